/**
 * A small synchronous test network for the Raft core: N cores, an in-memory "disk" per node, a FIFO
 * network with cuttable links and a message hook, crashes and restarts from what was persisted.
 * Everything is deterministic: ticks happen only when a test asks, random sources are seeded.
 *
 * Each node's Readies go through the runtime's {@link ReadyProcessor}, with ports that write to the
 * in-memory disk at once. While doing so the network checks these invariants and throws when one breaks:
 *   - a node is never handed an entry for apply beyond its commit index;
 *   - entries are applied in order, without gaps;
 *   - state machine safety: every node applies the same entry at a given index;
 *   - election safety: at most one leader per term.
 */
import {
  AppendRequest,
  AppendResponse,
  ConfState,
  Entry,
  EntryType,
  HardState,
  HeartbeatRequest,
  Message,
  NodeId,
  PersistentState,
  RaftConfig,
  RaftCore,
  ReadState,
  Ready,
  SnapshotMeta,
  SoftState,
  VoteRequest,
  VoteResponse,
} from '../src/core';
import { ReadyPorts, ReadyProcessor } from '../src/runtime/ready-processor';
import { Rng } from '../src/testing/rng';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const ELECTION_TICKS: [number, number] = [10, 20];

export type CoreOptions = Partial<Omit<RaftConfig, 'id'>>;

// ------------------------------------------------------------------ small builders

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(e: Entry | Uint8Array): string {
  return decoder.decode(e instanceof Uint8Array ? e : e.data);
}

export function confOf(voters: NodeId[], learners: NodeId[] = []): ConfState {
  return { voters: voters.slice(), learners: learners.slice(), addresses: {} };
}

export function entry(index: number, term: number, data = '', type: EntryType = EntryType.Normal): Entry {
  return { index, term, type, data: bytes(data) };
}

/** Consecutive entries starting at `from` (default 1), one per term given. */
export function entriesWithTerms(terms: number[], from = 1): Entry[] {
  return terms.map((t, i) => entry(from + i, t, `e${from + i}t${t}`));
}

/** `n` copies of `term`, handy to build long logs: `[...repeat(1, 5), ...repeat(3, 45)]`. */
export function repeat(term: number, n: number): number[] {
  return new Array<number>(n).fill(term);
}

export function termsOf(log: { term(index: number): number; firstIndex(): number; lastIndex(): number }): number[] {
  const out: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i));
  return out;
}

export interface InitialState {
  learners?: NodeId[];
  entries?: Entry[];
  hardState?: Partial<HardState>;
}

export function persistentState(voters: NodeId[], init: InitialState = {}): PersistentState {
  return {
    hardState: { term: 0, vote: null, commit: 0, ...init.hardState },
    snapshot: { index: 0, term: 0, conf: confOf(voters, init.learners), size: 0 },
    entries: (init.entries ?? []).slice(),
  };
}

export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

function seedOf(id: string, salt = 0): number {
  let h = 2166136261 ^ salt;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ------------------------------------------------------------------ single-core helpers

/** A core with electionTicks [10, 20], heartbeatTicks 1 and a random source seeded from its id. */
export function newCore(id: NodeId, voters: NodeId[], options: CoreOptions = {}, state?: PersistentState): RaftCore {
  return new RaftCore(
    { id, electionTicks: ELECTION_TICKS, heartbeatTicks: 1, random: seededRandom(seedOf(id)), ...options },
    state ?? persistentState(voters),
  );
}

/** Takes every pending Ready of a lone core (pretending it was persisted/applied) and returns them. */
export function drain(core: RaftCore): Ready[] {
  const out: Ready[] = [];
  for (let guard = 0; core.hasReady(); guard++) {
    if (guard > 100) throw new Error('drain: core never quiesces');
    const rd = core.ready();
    out.push(rd);
    core.advance(rd);
  }
  return out;
}

/** Every message a lone core wants to send right now (both before- and after-persist ones). */
export function readMessages(core: RaftCore): Message[] {
  return drain(core).flatMap((rd) => [...rd.messages, ...rd.messagesAfterPersist]);
}

/** Ticks a lone core until it leaves the follower role; returns the number of ticks. */
export function tickUntilCampaign(core: RaftCore, max = 1000): number {
  for (let n = 1; n <= max; n++) {
    core.tick();
    if (core.role !== 'follower') return n;
  }
  throw new Error(`${core.id} never campaigned`);
}

/** Makes a lone core leader by granting every (pre-)vote it asks for; drains its Readies. */
export function makeLeader(core: RaftCore): void {
  if (core.role === 'follower') tickUntilCampaign(core);
  for (let round = 0; round < 3 && core.role !== 'leader'; round++) {
    for (const m of readMessages(core)) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        core.step(voteResp(m.to, core.id, m.term, true, m.type === 'pre-vote'));
      }
    }
  }
  if (core.role !== 'leader') throw new Error(`${core.id} did not become leader`);
  drain(core);
}

// ------------------------------------------------------------------ message builders

export function voteReq(
  from: NodeId,
  to: NodeId,
  term: number,
  lastLogIndex: number,
  lastLogTerm: number,
  opts: { preVote?: boolean; transfer?: boolean } = {},
): VoteRequest {
  return { type: opts.preVote ? 'pre-vote' : 'vote', from, to, term, lastLogIndex, lastLogTerm, transfer: opts.transfer ?? false };
}

export function voteResp(from: NodeId, to: NodeId, term: number, granted: boolean, preVote = false): VoteResponse {
  return { type: preVote ? 'pre-vote-resp' : 'vote-resp', from, to, term, granted };
}

export function appendReq(
  from: NodeId,
  to: NodeId,
  term: number,
  prevIndex: number,
  prevTerm: number,
  entries: Entry[] = [],
  commit = 0,
): AppendRequest {
  return { type: 'append', from, to, term, prevIndex, prevTerm, entries, commit };
}

export function appendResp(from: NodeId, to: NodeId, term: number, index: number, reject = false, hintIndex = 0, hintTerm = 0): AppendResponse {
  return { type: 'append-resp', from, to, term, index, reject, hintIndex, hintTerm };
}

export function heartbeat(from: NodeId, to: NodeId, term: number, commit = 0, readRound = 0): HeartbeatRequest {
  return { type: 'heartbeat', from, to, term, commit, readRound };
}

/** The message type whose `type` is T (VoteRequest covers two types, so Extract<> would not do). */
export type MessageOf<T extends Message['type']> = Message & { type: T };

export function ofType<T extends Message['type']>(msgs: Message[], type: T): MessageOf<T>[] {
  return msgs.filter((m): m is MessageOf<T> => m.type === type);
}

// ------------------------------------------------------------------ the network

export interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta;
  snapshotData: Uint8Array;
  entries: Entry[];
}

export class TestNode {
  core: RaftCore | null = null;
  processor: ReadyProcessor<void> | null = null;
  /** Entries applied by the "state machine" since the last (re)start or snapshot install. */
  applied: Entry[] = [];
  /** Every read state the core handed out, as it handed them out. */
  readStates: ReadState[] = [];
  softStates: SoftState[] = [];
  installedSnapshots: SnapshotMeta[] = [];
  incoming: Uint8Array | null = null;
  incarnation = 0;

  constructor(
    readonly id: NodeId,
    public disk: Disk,
    readonly options: CoreOptions,
  ) {}

  get alive(): boolean {
    return this.core !== null;
  }

  /** What the state machine has applied (the core's `log.applying` is only what it handed out). */
  get appliedIndex(): number {
    return this.processor?.applied ?? 0;
  }
}

export interface NetworkOptions {
  /** Initial voters; every one of them gets a node. */
  ids: NodeId[];
  /** Initial learners (they get a node too). */
  learners?: NodeId[];
  /** Options for every core (electionTicks [10, 20] and heartbeatTicks 1 unless given). */
  config?: CoreOptions;
  /** Per-node overrides. */
  nodeConfig?: Record<NodeId, CoreOptions>;
  /** Per-node initial log and hard state (force a state without driving the cluster there). */
  initial?: Record<NodeId, Omit<InitialState, 'learners'>>;
  seed?: number;
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message a node emitted, in order (snapshot chunks with their data filled in). */
  readonly sent: Message[] = [];
  /** Every message that reached its destination, in order. */
  readonly delivered: Message[] = [];
  /** Sees every message at delivery: return it (possibly changed) to deliver, null to drop. */
  intercept: ((m: Message) => Message | null) | null = null;
  /** Ticks taken so far through {@link tick} (a virtual clock for the tests). */
  now = 0;

  private queue: Message[] = [];
  private readonly blocked = new Set<string>();
  private readonly seed: number;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly appliedAt = new Map<number, { by: NodeId; entry: Entry }>();

  constructor(private readonly opts: NetworkOptions) {
    this.seed = opts.seed ?? 1;
    const conf = confOf(opts.ids, opts.learners);
    for (const id of [...opts.ids, ...(opts.learners ?? [])]) {
      const init = opts.initial?.[id] ?? {};
      const st = persistentState(conf.voters, { learners: conf.learners, ...init });
      this.createNode(id, { hardState: st.hardState, snapshot: st.snapshot, snapshotData: new Uint8Array(0), entries: st.entries });
    }
  }

  // -------------------------------------------------------------- access

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    const c = this.node(id).core;
    if (c === null) throw new Error(`${id} is crashed`);
    return c;
  }

  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  aliveIds(): NodeId[] {
    return this.ids.filter((id) => this.node(id).alive);
  }

  /** The live leader with the highest term, if any. */
  leader(): NodeId | null {
    let best: RaftCore | null = null;
    for (const n of this.nodes.values()) {
      if (n.core?.role === 'leader' && (best === null || n.core.term > best.term)) best = n.core;
    }
    return best?.id ?? null;
  }

  // -------------------------------------------------------------- membership of the test network

  /** Adds an empty node that knows no members (it learns its configuration from the leader's log). */
  addNode(id: NodeId, options: CoreOptions = {}): TestNode {
    const snapshot: SnapshotMeta = { index: 0, term: 0, conf: confOf([]), size: 0 };
    return this.createNode(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot, snapshotData: new Uint8Array(0), entries: [] }, options);
  }

  private createNode(id: NodeId, disk: Disk, options: CoreOptions = {}): TestNode {
    const node = new TestNode(id, disk, { ...this.opts.config, ...this.opts.nodeConfig?.[id], ...options });
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: TestNode): void {
    node.incarnation++;
    const d = node.disk;
    node.core = new RaftCore(
      {
        id: node.id,
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        random: seededRandom(seedOf(node.id, this.seed * 1000 + node.incarnation)),
        ...node.options,
      },
      { hardState: { ...d.hardState }, snapshot: d.snapshot, entries: d.entries.slice() },
    );
    node.processor = new ReadyProcessor(node.core, this.readyPorts(node), { hardState: { ...d.hardState }, applied: d.snapshot.index });
    node.applied = [];
    node.readStates = [];
    node.incoming = null;
  }

  // -------------------------------------------------------------- faults

  /** Drops every message from `from` to `to` (one direction). */
  drop(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Cuts the link between `a` and `b` in both directions. */
  cut(a: NodeId, b: NodeId): void {
    this.drop(a, b);
    this.drop(b, a);
  }

  mend(a: NodeId, b: NodeId): void {
    this.blocked.delete(`${a}>${b}`);
    this.blocked.delete(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.ids) if (other !== id) this.cut(id, other);
  }

  /** Only nodes of the same group can talk (nodes in no group keep all their links). */
  partition(...groups: NodeId[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]) for (const b of groups[j]) this.drop(a, b);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Loses the node's memory; its disk stays. Messages to it are dropped while it is down. */
  crash(id: NodeId): void {
    const node = this.node(id);
    node.core = null;
    node.incarnation++;
  }

  /**
   * A clean stop, as the runtime's: the newest commit index reaches the disk first (a crash loses one
   * that only moved the commit index, decision 0006), then the node goes down as in a crash.
   */
  stop(id: NodeId): void {
    const node = this.node(id);
    const unsynced = node.processor?.unsyncedHardState() ?? null;
    if (node.alive && unsynced !== null) node.disk.hardState = { ...unsynced };
    this.crash(id);
  }

  /** Boots the node again from its disk; `edit` may change the disk first (to force a state). */
  restart(id: NodeId, edit?: (disk: Disk) => void): RaftCore {
    const node = this.node(id);
    if (node.alive) throw new Error(`${id} is running`);
    if (edit !== undefined) edit(node.disk);
    this.boot(node);
    return node.core!;
  }

  /**
   * Takes a snapshot of `id` at `index` (default: what its state machine applied), with `size` bytes
   * of deterministic data, makes it durable and compacts the core's log.
   */
  compact(id: NodeId, index?: number, size = 35): SnapshotMeta {
    const node = this.node(id);
    const core = this.core(id);
    const at = index ?? node.appliedIndex;
    const meta: SnapshotMeta = { index: at, term: core.log.term(at), conf: core.confAt(at), size };
    node.disk.snapshot = meta;
    node.disk.snapshotData = snapshotBytes(at, size);
    node.disk.entries = node.disk.entries.filter((e) => e.index > at);
    core.compact(meta);
    return meta;
  }

  // -------------------------------------------------------------- driving

  propose(id: NodeId, data: string): { index: number; term: number } {
    return this.core(id).propose(bytes(data));
  }

  /** Steps a message straight into its destination (no link checks), without processing Readies. */
  inject(m: Message): void {
    this.core(m.to).step(m);
  }

  /** Handles every pending Ready of every live node; returns the messages they emitted (now queued). */
  flush(): Message[] {
    const before = this.sent.length;
    for (const node of this.nodes.values()) {
      for (let guard = 0; node.core !== null && node.core.hasReady(); guard++) {
        if (guard > 1000) throw new Error(`${node.id} never quiesces`);
        this.handleReady(node);
      }
    }
    return this.sent.slice(before);
  }

  /** Removes and returns the messages in flight (a test may inspect, change and `deliver` them). */
  take(): Message[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Delivers messages (honouring cut links, crashes and `intercept`). */
  deliver(msgs: Message[]): void {
    for (const m of msgs) this.deliverOne(m);
  }

  /** One hop: flush every node, then deliver everything that was in flight. */
  step(): Message[] {
    this.flush();
    const q = this.take();
    this.deliver(q);
    return q;
  }

  /** Runs Readies and deliveries until no node has work and nothing is in flight. */
  stabilize(): void {
    for (let round = 0; round < 10_000; round++) {
      this.flush();
      if (this.queue.length === 0) return;
      this.deliver(this.take());
    }
    throw new Error('the network did not stabilize');
  }

  /** Ticks the given nodes (default: every live node) `n` times, stabilizing after each tick. */
  tick(n = 1, ids?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      this.now++;
      for (const id of ids ?? this.aliveIds()) this.node(id).core?.tick();
      this.stabilize();
    }
  }

  /** Ticks until `done()` holds; returns the number of ticks taken. */
  tickUntil(done: () => boolean, max = 500, ids?: NodeId[]): number {
    for (let n = 0; n <= max; n++) {
      if (done()) return n;
      this.tick(1, ids);
    }
    throw new Error(`condition not reached within ${max} ticks`);
  }

  /** Ticks only `id` until it is leader (the others never time out meanwhile). */
  elect(id: NodeId, maxTicks = 200): void {
    this.stabilize();
    this.tickUntil(() => this.core(id).role === 'leader', maxTicks, [id]);
  }

  // -------------------------------------------------------------- the driver

  private handleReady(node: TestNode): void {
    const rd = node.core!.ready();
    node.readStates.push(...rd.readStates);
    node.processor!.begin(rd);
    if (node.processor!.busy) throw new Error('the test network processes Readies synchronously');
  }

  /** Writes go to the node's disk at once: everything is durable by the time a port returns. */
  private readyPorts(node: TestNode): ReadyPorts<void> {
    return {
      softState: (soft) => {
        node.softStates.push(soft);
        if (soft.role !== 'leader') return;
        const term = node.core!.term;
        const prev = this.leaderOfTerm.get(term);
        if (prev !== undefined && prev !== node.id) throw new Error(`election safety: ${prev} and ${node.id} both leader in term ${term}`);
        this.leaderOfTerm.set(term, node.id);
      },
      send: (messages) => {
        for (const m of messages) this.emit(node, m);
      },
      writeSnapshotChunks: (chunks, written) => {
        for (const chunk of chunks) {
          if (chunk.offset === 0 || node.incoming === null) node.incoming = new Uint8Array(chunk.meta.size);
          node.incoming.set(chunk.data, chunk.offset);
        }
        written();
      },
      persist: ({ snapshot, entries, hardState }, durable) => {
        const disk = node.disk;
        if (snapshot !== null) {
          const at = disk.entries.find((e) => e.index === snapshot.index);
          disk.entries = at !== undefined && at.term === snapshot.term ? disk.entries.filter((e) => e.index > snapshot.index) : [];
          disk.snapshot = snapshot;
          disk.snapshotData = node.incoming ?? new Uint8Array(0);
          node.incoming = null;
        }
        if (entries.length > 0) {
          const first = entries[0].index;
          disk.entries = disk.entries.filter((e) => e.index < first).concat(entries);
        }
        if (hardState !== null) disk.hardState = { ...hardState };
        durable();
      },
      restoreSnapshot: (meta) => {
        node.installedSnapshots.push(meta);
        node.applied = [];
      },
      apply: (e) => {
        const commit = node.core!.log.commit;
        if (e.index > commit) throw new Error(`${node.id} was handed ${e.index} for apply beyond its commit ${commit}`);
        if (e.index !== node.appliedIndex + 1) throw new Error(`${node.id} applies ${e.index} after ${node.appliedIndex}`);
        const prev = this.appliedAt.get(e.index);
        if (prev === undefined) this.appliedAt.set(e.index, { by: node.id, entry: e });
        else if (prev.entry.term !== e.term || prev.entry.type !== e.type || text(prev.entry) !== text(e)) {
          throw new Error(`state machine safety: ${node.id} applies ${e.index}/${e.term}, ${prev.by} applied ${e.index}/${prev.entry.term}`);
        }
        node.applied.push(e);
      },
      onApplied: () => undefined,
      readFailed: () => undefined,
      serveRead: () => undefined,
      finished: () => undefined,
      fail: (err) => {
        throw err;
      },
    };
  }

  private emit(node: TestNode, m: Message): void {
    if (m.type === 'snapshot' && node.disk.snapshot.index === m.meta.index) {
      m = { ...m, data: node.disk.snapshotData.subarray(m.offset, m.offset + m.length) };
    }
    this.sent.push(m);
    this.queue.push(m);
  }

  private deliverOne(m: Message): void {
    const to = this.nodes.get(m.to);
    if (to === undefined || to.core === null || this.blocked.has(`${m.from}>${m.to}`)) return;
    const msg = this.intercept === null ? m : this.intercept(m);
    if (msg === null) return;
    this.delivered.push(msg);
    to.core.step(msg);
  }
}

export function snapshotBytes(index: number, size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return data;
}

