import { Entry, EntryType, Message, NodeId, RaftConfig, RaftCore, RaftError, Ready, SnapshotMeta } from '../../src/core';
import { ReadyPorts, ReadyProcessor } from '../../src/runtime/ready-processor';
import { MemoryStorage, SnapshotWriter } from '../../src/storage';
import { confAt, CoreView, viewOf } from './core-view';
import { formatEntries, formatEntry, formatHardState, formatMessage, formatSnapshotMeta, list, position } from './format';
import { Arg, Command } from './script';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A mistake in a script (unknown command, missing argument): the script is wrong, not the core. */
export class ScriptError extends Error {}

/** One applied command of a node's state machine; the state machine is the list of them. */
interface AppliedCommand {
  index: number;
  data: string;
}

interface EnvNode {
  id: NodeId;
  /** The minimum election timeout, in ticks: the leader lease, and what `tick-election` ticks. */
  electionTicks: number;
  heartbeatTicks: number;
  storage: MemoryStorage;
  core: RaftCore;
  processor: ReadyProcessor<void>;
  state: AppliedCommand[];
  /** Messages sent to this node and not yet delivered, oldest first. */
  inbox: Message[];
  /** An incoming snapshot being written, chunk by chunk. */
  incoming: SnapshotWriter | null;
  /** The Ready being processed (to tell its `messages` from its `messagesAfterPersist`). */
  ready: Ready | null;
}

/**
 * The world of a script: cores, each with a MemoryStorage and the runtime's ReadyProcessor (so Readies
 * are processed in the order the real runtime processes them), a network of per-node inboxes whose
 * links can be cut, and the output of the command being run.
 *
 * Nothing happens on its own: ticks, Readies and deliveries happen only when a command asks, and the
 * storage's promises are awaited to the end after each step, so the output is the same on every run.
 */
export class InteractionEnv {
  private readonly nodes = new Map<NodeId, EnvNode>();
  /** Cut links, as `from>to`. */
  private readonly cutLinks = new Set<string>();
  private output: string[] = [];
  private indent = '';
  private readonly pending = new Set<Promise<unknown>>();
  private failure: Error | null = null;
  private nextReadId = 1;
  // Safety invariants, checked on every Ready (a violation fails the script whatever its expected output).
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly appliedAt = new Map<number, { by: NodeId; entry: string }>();

  /** Runs one command; returns its output lines ("ok" when it printed nothing). */
  async run(cmd: Command): Promise<string[]> {
    this.output = [];
    this.indent = '';
    const args = new Args(cmd);
    const handler = this.handlers[cmd.name];
    if (handler === undefined) throw new ScriptError(`line ${cmd.lineNumber}: unknown command "${cmd.name}"`);
    await handler(args);
    args.checkAllUsed();
    await this.settle();
    return this.output.length > 0 ? this.output : ['ok'];
  }

  private readonly handlers: Record<string, (args: Args) => Promise<void> | void> = {
    'add-nodes': (a) => this.addNodes(a),
    campaign: (a) => this.campaign(this.node(a.positional(0))),
    tick: (a) => this.tick(a.nodes(this), a.number('times', 1)),
    'tick-election': (a) => a.nodes(this).forEach((n) => this.tick([n], n.electionTicks)),
    'tick-heartbeat': (a) => a.nodes(this).forEach((n) => this.tick([n], n.heartbeatTicks)),
    'process-ready': async (a) => {
      for (const n of a.nodesOrAll(this)) await this.processReady(n);
    },
    'deliver-msgs': (a) => this.deliverMsgs(a),
    stabilize: (a) => this.stabilize(a.nodesOrAll(this)),
    propose: (a) => this.propose(this.node(a.positional(0)), a.positional(1)),
    'transfer-leadership': (a) => this.transferLeadership(this.node(a.required('from')), a.optional('to')),
    'read-index': (a) => this.readIndex(this.node(a.positional(0)), a.number('id', this.nextReadId)),
    isolate: (a) => this.isolate(a.positional(0)),
    partition: (a) => this.partition(a.groups()),
    heal: () => this.heal(),
    status: (a) => a.nodes(this).forEach((n) => this.printStatus(n)),
    'raft-log': (a) => this.printLog(this.node(a.positional(0))),
    'app-state': (a) => a.nodes(this).forEach((n) => this.print(`${n.id}: applied=${n.processor.applied} state=${stateText(n.state)}`)),
    compact: (a) => this.compact(this.node(a.positional(0)), a.optionalPositionalNumber(1)),
  };

  node(id: string): EnvNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new ScriptError(`no node ${id}`);
    return n;
  }

  allNodes(): EnvNode[] {
    return [...this.nodes.values()];
  }

  // -------------------------------------------------------------- output

  private print(line: string): void {
    this.output.push(this.indent + line);
  }

  private block(header: string, body: () => Promise<void> | void): Promise<void> | void {
    this.print(header);
    const outer = this.indent;
    this.indent = outer + '  ';
    const done = body();
    if (done instanceof Promise) {
      return done.finally(() => {
        this.indent = outer;
      });
    }
    this.indent = outer;
  }

  /** Runs `fn` on the node's core and prints the changes of role, term, leader and transfer it caused. */
  private watch<T>(n: EnvNode, fn: () => T): T {
    const before = viewOf(n.core);
    const result = fn();
    for (const line of describeChange(n.id, before, viewOf(n.core))) this.print(line);
    return result;
  }

  // -------------------------------------------------------------- nodes

  private async addNodes(a: Args): Promise<void> {
    const count = Number(a.positional(0));
    const first = this.nodes.size + 1;
    const ids = Array.from({ length: count }, (_, i) => String(first + i));
    const voters = a.list('voters') ?? ids;
    const learners = a.list('learners') ?? [];
    const electionTicks = a.number('election', 3);
    const heartbeatTicks = a.number('heartbeat', 1);
    // Only the options a script gives: the others keep the core's defaults (pre-vote and check-quorum on).
    const options: Partial<RaftConfig> = {};
    const flag = (name: string, key: 'preVote' | 'checkQuorum' | 'autoPromote'): void => {
      const v = a.optional(name);
      if (v !== undefined) options[key] = v === 'true';
    };
    flag('prevote', 'preVote');
    flag('checkquorum', 'checkQuorum');
    flag('auto-promote', 'autoPromote');
    const numeric = (name: string, key: 'maxInflight' | 'maxAppendBytes' | 'snapshotChunkSize' | 'maxUncommittedEntries' | 'maxPendingReads'): void => {
      const v = a.optionalNumber(name);
      if (v !== undefined) options[key] = v;
    };
    numeric('max-inflight', 'maxInflight');
    numeric('max-append-bytes', 'maxAppendBytes');
    numeric('snapshot-chunk', 'snapshotChunkSize');
    numeric('max-uncommitted', 'maxUncommittedEntries');
    numeric('max-pending-reads', 'maxPendingReads');
    // Each node's election timeout is fixed (the core draws it from `random`, which we pin): `election` by
    // default, or the node's entry of `timeouts`. A timeout above `election` lets a follower's leader lease
    // (always `election` ticks) expire before it campaigns, as randomised timeouts do in a real cluster.
    const timeouts = a.list('timeouts')?.map(Number) ?? ids.map(() => electionTicks);
    if (timeouts.length !== count || timeouts.some((t) => !Number.isInteger(t) || t < electionTicks)) {
      throw new ScriptError(`timeouts= needs ${count} integers of at least election=${electionTicks}`);
    }
    const maxTimeout = Math.max(...timeouts);
    for (const [i, id] of ids.entries()) {
      const storage = new MemoryStorage();
      const state = await storage.open({ index: 0, term: 0, conf: { voters, learners, addresses: {} }, size: 0 });
      // The core draws lo + floor(random * (hi - lo + 1)); the middle of the timeout's slot gives exactly it.
      const draw = (timeouts[i] - electionTicks + 0.5) / (maxTimeout - electionTicks + 1);
      const core = new RaftCore(
        { id, electionTicks: [electionTicks, maxTimeout], heartbeatTicks, random: () => draw, ...options },
        state,
      );
      const node: EnvNode = {
        id,
        electionTicks,
        heartbeatTicks,
        storage,
        core,
        processor: null as unknown as ReadyProcessor<void>,
        state: [],
        inbox: [],
        incoming: null,
        ready: null,
      };
      node.processor = new ReadyProcessor(core, this.readyPorts(node), { hardState: state.hardState, applied: state.snapshot.index });
      this.nodes.set(id, node);
    }
  }

  // -------------------------------------------------------------- time

  private tick(nodes: EnvNode[], times: number): void {
    for (const n of nodes) for (let i = 0; i < times; i++) this.watch(n, () => n.core.tick());
  }

  /**
   * The core has no public "campaign now" (etcd's Campaign/MsgHup): its election timer is the only way
   * to start an election. So this ticks the node until it starts one, as its timer would.
   */
  private campaign(n: EnvNode): void {
    const start = viewOf(n.core);
    if (start.role === 'leader') throw new ScriptError(`${n.id} is leader: it cannot campaign`);
    for (let i = 0; i < 100 * n.electionTicks; i++) {
      this.watch(n, () => n.core.tick());
      const now = viewOf(n.core);
      if (now.role !== 'follower' && (now.role !== start.role || now.term !== start.term)) return;
    }
    throw new ScriptError(`${n.id} never campaigned`);
  }

  // -------------------------------------------------------------- Readies

  /** Processes one Ready of `n`, if it has one, to the end (written, sent, applied, advanced). */
  private async processReady(n: EnvNode): Promise<boolean> {
    if (!n.core.hasReady()) return false;
    await this.block(`> ${n.id} handles a Ready`, async () => {
      const rd = n.core.ready();
      if (rd.softState !== null) this.print(`soft state: role=${rd.softState.role} leader=${rd.softState.leaderId ?? 'none'}`);
      if (rd.hardState !== null) this.print(`hard state: ${formatHardState(rd.hardState)}`);
      if (rd.entries.length > 0) this.print(`entries: ${formatEntries(rd.entries)}`);
      for (const chunk of rd.snapshotChunks) {
        this.print(`snapshot chunk: ${position(chunk.meta.index, chunk.meta.term)} offset=${chunk.offset} length=${chunk.data.length}`);
      }
      if (rd.snapshot !== null) this.print(`snapshot: ${formatSnapshotMeta(rd.snapshot)}`);
      for (const rs of rd.readStates) this.print(`read state: id=${rs.requestId} index=${rs.index}`);
      n.ready = rd;
      this.watch(n, () => n.processor.begin(rd));
      await this.settle();
      n.ready = null;
    });
    return true;
  }

  /** Waits until every storage write and snapshot read started so far has completed. */
  private async settle(): Promise<void> {
    for (let turns = 0; ; turns++) {
      if (this.failure !== null) throw this.failure;
      if (this.pending.size === 0 && this.allNodes().every((n) => !n.processor.busy)) return;
      if (turns > 10_000) throw new Error('storage never settled');
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const forget = (): void => void this.pending.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** The runtime's ports (see RaftNode), with a MemoryStorage and a state machine that lists commands. */
  private readyPorts(n: EnvNode): ReadyPorts<void> {
    const fail = (err: unknown): void => {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    };
    return {
      softState: (soft) => {
        if (soft.role !== 'leader') return;
        const term = viewOf(n.core).term;
        const other = this.leaderOfTerm.get(term);
        if (other !== undefined && other !== n.id) fail(new Error(`election safety: ${other} and ${n.id} are both leader in term ${term}`));
        this.leaderOfTerm.set(term, n.id);
      },
      send: (messages) => {
        const after = n.ready !== null && messages === n.ready.messagesAfterPersist;
        for (const m of messages) {
          const lost = this.post(n, m);
          this.print(`${after ? 'send after persist' : 'send'}: ${formatMessage(m)}${lost === null ? '' : ` (lost: ${lost})`}`);
        }
      },
      writeSnapshotChunks: (chunks, written) => {
        const work = async (): Promise<void> => {
          for (const chunk of chunks) {
            if (chunk.offset === 0 || n.incoming === null || n.incoming.meta.index !== chunk.meta.index) {
              await n.incoming?.abort();
              n.incoming = n.storage.beginSnapshot(chunk.meta);
            }
            await n.incoming.write(chunk.offset, chunk.data);
          }
        };
        this.track(work()).then(written, fail);
      },
      persist: ({ snapshot, entries, hardState }, durable) => {
        const work = async (): Promise<void> => {
          if (snapshot !== null) {
            if (n.incoming === null || n.incoming.meta.index !== snapshot.index) {
              await n.incoming?.abort();
              n.incoming = n.storage.beginSnapshot(snapshot);
            }
            await n.incoming.commit();
            n.incoming = null;
          }
          if (entries.length > 0 || hardState !== null) await n.storage.save(hardState, entries);
        };
        this.track(work()).then(durable, fail);
      },
      restoreSnapshot: async (meta) => {
        n.state = await readState(n.storage, meta);
        this.print(`restore snapshot ${position(meta.index, meta.term)}: state=${stateText(n.state)}`);
      },
      apply: (e) => {
        this.print(`apply: ${formatEntry(e)}`);
        const text = formatEntry(e);
        const earlier = this.appliedAt.get(e.index);
        if (earlier === undefined) this.appliedAt.set(e.index, { by: n.id, entry: text });
        else if (earlier.entry !== text) fail(new Error(`state machine safety: ${n.id} applies ${text}, ${earlier.by} applied ${earlier.entry}`));
        if (e.type === EntryType.Normal) n.state.push({ index: e.index, data: decoder.decode(e.data) });
      },
      onApplied: () => undefined,
      readFailed: (id) => this.print(`read ${id} failed: retry`),
      serveRead: (id, index) => this.print(`read ${id} can be served: index ${index} is applied`),
      finished: () => undefined,
      fail,
    };
  }

  // -------------------------------------------------------------- the network

  /**
   * Queues `m` in its recipient's inbox (a snapshot chunk gets its bytes from storage first, as in the
   * runtime); returns why it is lost instead, if it is. A message sent over a cut link is lost at once,
   * so that nothing sent during a partition arrives after it heals; one already in flight when a link
   * is cut is lost at delivery.
   */
  private post(from: EnvNode, m: Message): string | null {
    const to = this.nodes.get(m.to);
    if (to === undefined) return `no node ${m.to}`;
    if (this.cutLinks.has(`${m.from}>${m.to}`)) return 'link cut';
    if (m.type !== 'snapshot') {
      to.inbox.push(m);
      return null;
    }
    if (from.storage.snapshotMeta().index !== m.meta.index) return `snapshot ${m.meta.index} is no longer stored`;
    const chunk = { ...m };
    to.inbox.push(chunk);
    this.track(from.storage.readSnapshot(m.offset, m.length)).then(
      (data) => {
        chunk.data = data;
      },
      (err: unknown) => {
        this.failure ??= err as Error;
      },
    );
    return null;
  }

  private deliverMsgs(a: Args): void {
    const drop = new Set(a.list('drop') ?? []);
    const type = a.optional('type');
    const targets = a.positionalNodes(this);
    for (const id of drop) if (!targets.includes(this.node(id))) targets.push(this.node(id));
    for (const n of targets.length > 0 ? targets : this.allNodes()) this.deliver(n, drop.has(n.id), type);
  }

  /** Steps the messages in `n`'s inbox (those of `type`, if given) into its core, or drops them. */
  private deliver(n: EnvNode, drop: boolean, type?: string): boolean {
    const take = n.inbox.filter((m) => type === undefined || m.type === type);
    if (take.length === 0) return false;
    n.inbox = n.inbox.filter((m) => !take.includes(m));
    this.block(`> ${n.id} receives`, () => {
      for (const m of take) {
        if (drop) this.print(`dropped: ${formatMessage(m)}`);
        else if (this.cutLinks.has(`${m.from}>${m.to}`)) this.print(`dropped (link cut): ${formatMessage(m)}`);
        else {
          this.print(formatMessage(m));
          this.watch(n, () => n.core.step(m));
        }
      }
    });
    return true;
  }

  /** Processes Readies and delivers messages among `nodes` until none has anything left to do. */
  private async stabilize(nodes: EnvNode[]): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const n of nodes) if (await this.processReady(n)) busy = true;
      for (const n of nodes) if (this.deliver(n, false)) busy = true;
      if (!busy) return;
    }
    throw new Error('the nodes did not stabilize within 1000 rounds');
  }

  private isolate(id: NodeId): void {
    this.node(id);
    this.partition([[id], this.allNodes().map((n) => n.id).filter((other) => other !== id)]);
  }

  /** Cuts every link between nodes of different groups (both directions). */
  private partition(groups: NodeId[][]): void {
    const cut: string[] = [];
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]) {
          for (const b of groups[j]) {
            this.cutLinks.add(`${a}>${b}`);
            this.cutLinks.add(`${b}>${a}`);
            cut.push(`${a}-${b}`);
          }
        }
      }
    }
    this.print(`cut: ${cut.join(' ')}`);
  }

  private heal(): void {
    this.cutLinks.clear();
  }

  // -------------------------------------------------------------- client requests

  private propose(n: EnvNode, data: string): void {
    try {
      const at = this.watch(n, () => n.core.propose(encoder.encode(data)));
      this.print(`proposed: ${position(at.index, at.term)} ${JSON.stringify(data)}`);
    } catch (err) {
      this.printRaftError(err);
    }
  }

  private transferLeadership(from: EnvNode, to: string | undefined): void {
    try {
      this.watch(from, () => from.core.transferLeadership(to));
    } catch (err) {
      this.printRaftError(err);
    }
  }

  private readIndex(n: EnvNode, id: number): void {
    this.nextReadId = Math.max(this.nextReadId, id + 1);
    this.watch(n, () => n.core.readIndex(id));
    this.print(`read ${id} requested`);
  }

  private printRaftError(err: unknown): void {
    if (!(err instanceof RaftError)) throw err;
    this.print(`error ${err.code}: ${err.message}`);
  }

  // -------------------------------------------------------------- snapshots

  /** Takes a snapshot of the state machine at `index` (default: what it applied), as the runtime does, and compacts the log. */
  private async compact(n: EnvNode, index = n.processor.applied): Promise<void> {
    if (index > n.processor.applied) throw new ScriptError(`${n.id} has applied only ${n.processor.applied}`);
    const stored = n.storage.snapshotMeta();
    const term = index === stored.index ? stored.term : (await n.storage.readEntries(index, index))[0].term;
    const data = encoder.encode(JSON.stringify(n.state.filter((c) => c.index <= index)));
    const meta: SnapshotMeta = { index, term, conf: confAt(n.core, index), size: data.length };
    const writer = n.storage.beginSnapshot(meta);
    await writer.write(0, data);
    await writer.commit();
    n.core.compact(meta);
    this.print(`snapshot: ${formatSnapshotMeta(meta)}`);
  }

  // -------------------------------------------------------------- inspection

  private printStatus(n: EnvNode): void {
    const v = viewOf(n.core);
    const learners = v.conf.learners.length > 0 ? ` learners=${list(v.conf.learners)}` : '';
    this.print(
      `${n.id}: ${v.role} term=${v.term} vote=${v.vote ?? 'none'} leader=${v.leaderId ?? 'none'} ` +
        `commit=${v.commit} applied=${n.processor.applied} last=${v.lastIndex} snapshot=${v.snapshotIndex} voters=${list(v.conf.voters)}${learners}`,
    );
    if (v.leadTransferee !== null) this.print(`  transferring leadership to ${v.leadTransferee}`);
    for (const p of v.progress) {
      this.print(`  progress ${p.id}: ${p.state} match=${p.match} next=${p.next}${p.learner ? ' learner' : ''}`);
    }
  }

  /** What the node's storage holds (what survives a crash), not the core's in-memory log. */
  private async printLog(n: EnvNode): Promise<void> {
    const s = n.storage;
    this.print(`snapshot: ${formatSnapshotMeta(s.snapshotMeta())}`);
    this.print(`hard state: ${formatHardState(s.hardState())}`);
    const entries: Entry[] = await s.readEntries(s.firstIndex(), s.lastIndex());
    if (entries.length === 0) this.print('no entries');
    for (const e of entries) this.print(formatEntry(e));
  }
}

async function readState(storage: MemoryStorage, meta: SnapshotMeta): Promise<AppliedCommand[]> {
  const data = new Uint8Array(meta.size);
  let offset = 0;
  for await (const chunk of storage.snapshotChunks()) {
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return meta.size === 0 ? [] : (JSON.parse(decoder.decode(data)) as AppliedCommand[]);
}

function stateText(state: AppliedCommand[]): string {
  return `[${state.map((c) => c.data).join(' ')}]`;
}

function describeChange(id: NodeId, a: CoreView, b: CoreView): string[] {
  const out: string[] = [];
  const leader = b.role === 'follower' && b.leaderId !== null ? `, leader ${b.leaderId}` : '';
  if (a.role !== b.role) out.push(`${id} becomes ${b.role} at term ${b.term}${leader}`);
  else if (a.term !== b.term) out.push(`${id} moves to term ${b.term} as ${b.role}${leader}`);
  else if (a.leaderId !== b.leaderId) out.push(b.leaderId === null ? `${id} forgets leader ${a.leaderId}` : `${id} follows leader ${b.leaderId}`);
  if (a.leadTransferee !== b.leadTransferee) {
    if (a.leadTransferee !== null) out.push(`${id} ends leadership transfer to ${a.leadTransferee}`);
    if (b.leadTransferee !== null) out.push(`${id} starts leadership transfer to ${b.leadTransferee}`);
  }
  return out;
}

/** A command's arguments; every one must be used, so a misspelt option fails the script instead of being ignored. */
class Args {
  private readonly used = new Set<Arg>();

  constructor(private readonly cmd: Command) {}

  private fail(message: string): never {
    throw new ScriptError(`line ${this.cmd.lineNumber} (${this.cmd.text}): ${message}`);
  }

  private positionals(): Arg[] {
    return this.cmd.args.filter((a) => a.key === null);
  }

  positional(i: number): string {
    const arg = this.positionals()[i];
    if (arg === undefined) this.fail(`argument ${i + 1} is missing`);
    this.used.add(arg);
    return arg.value;
  }

  optionalPositionalNumber(i: number): number | undefined {
    const arg = this.positionals()[i];
    if (arg === undefined) return undefined;
    this.used.add(arg);
    const n = Number(arg.value);
    if (!Number.isInteger(n)) this.fail(`${arg.value} is not an integer`);
    return n;
  }

  /** The nodes named by the positional arguments; at least one. */
  nodes(env: InteractionEnv): EnvNode[] {
    const nodes = this.positionalNodes(env);
    if (nodes.length === 0) this.fail('name at least one node');
    return nodes;
  }

  positionalNodes(env: InteractionEnv): EnvNode[] {
    return this.positionals().map((a) => {
      this.used.add(a);
      return env.node(a.value);
    });
  }

  nodesOrAll(env: InteractionEnv): EnvNode[] {
    const nodes = this.positionalNodes(env);
    return nodes.length > 0 ? nodes : env.allNodes();
  }

  /** Positional groups: `(1,2) (3)`. */
  groups(): NodeId[][] {
    return this.positionals().map((a) => {
      this.used.add(a);
      return a.items;
    });
  }

  private keyed(key: string): Arg | undefined {
    const arg = this.cmd.args.find((a) => a.key === key);
    if (arg !== undefined) this.used.add(arg);
    return arg;
  }

  optional(key: string): string | undefined {
    return this.keyed(key)?.value;
  }

  required(key: string): string {
    return this.optional(key) ?? this.fail(`${key}= is missing`);
  }

  list(key: string): string[] | undefined {
    return this.keyed(key)?.items;
  }

  optionalNumber(key: string): number | undefined {
    const v = this.optional(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) this.fail(`${key}=${v} is not an integer`);
    return n;
  }

  number(key: string, fallback: number): number {
    return this.optionalNumber(key) ?? fallback;
  }

  checkAllUsed(): void {
    const unused = this.cmd.args.filter((a) => !this.used.has(a));
    if (unused.length > 0) this.fail(`unknown arguments: ${unused.map((a) => (a.key === null ? a.value : `${a.key}=`)).join(' ')}`);
  }
}
