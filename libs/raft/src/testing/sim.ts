import {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  NodeId,
  RaftCore,
  RaftError,
  Ready,
  Role,
  SessionTable,
  SessionTableSnapshot,
  SnapshotMeta,
} from '../core';
import { DurableWrite, ReadyPorts, ReadyProcessor } from '../runtime/ready-processor';
import { checkLinearizability, Operation } from './linearizability';
import { KvInput, kvModel, KvOutput } from './kv-model';
import { EventQueue, Rng } from './rng';

/**
 * A deterministic simulation of a Raft cluster: virtual time, a seeded network that drops, delays,
 * duplicates, reorders and partitions messages, nodes that crash and restart from what they persisted,
 * membership changes and leadership transfers, and clients that write and read all the while.
 * Safety invariants are checked after every event; linearizability and liveness at the end.
 */
export interface SimOptions {
  seed: number;
  /** Virtual ms of the faulty phase. */
  faultMs?: number;
  /** Virtual ms after healing within which the cluster must be live again. */
  healMs?: number;
  clients?: number;
  trace?: boolean;
}

export interface SimResult {
  seed: number;
  violations: string[];
  trace: string[];
  stats: {
    events: number;
    messages: number;
    ops: number;
    okWrites: number;
    okReads: number;
    unknown: number;
    elections: number;
    crashes: number;
    /** Crashes that left part of a write on the disk. */
    tornWrites: number;
    snapshotsSent: number;
    confChanges: number;
    finalCommit: number;
  };
}

const TICK_MS = 10;
const COMPACTION_THRESHOLD = 40;
const CLIENT_TIMEOUT_MS = 300;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta;
  snapshotData: Uint8Array;
  entries: Entry[];
}

interface Command {
  client: string;
  seq: number;
  ackedBelow: number;
  op: KvInput;
}

type Reply = { ok: true; value: string } | { ok: false; leaderHint: NodeId | null };

interface StateMachineSnapshot {
  kv: [string, string][];
  sessions: SessionTableSnapshot<string>;
}

interface PendingWrite {
  write: DurableWrite;
  /** The bytes of the snapshot it installs, taken when it was handed over. */
  snapshotData: Uint8Array | null;
}

/** A command's result, or null when it was not applied (an old session's retry, a non-command entry). */
type CommandResult = string | null;

class SimNode {
  core: RaftCore | null = null;
  processor: ReadyProcessor<CommandResult> | null = null;
  /** Writes handed to the virtual disk, oldest first; each reaches `disk` when it completes, in this order. */
  writes: PendingWrite[] = [];
  /** When the newest write completes: a later one never completes before it. */
  lastWriteAt = 0;
  /** How long a write takes, in ms (a slow disk fault widens it). */
  diskMs: [number, number] = [0, 3];
  /** Set by a fault: the node crashes while its next write is in flight. */
  crashInNextWrite = false;
  incarnation = 0;
  kv = new Map<string, string>();
  sessions = new SessionTable<string>({ maxSessions: 64, maxResponsesPerClient: 4 });
  /** Proposals made here, by index, waiting for their apply. */
  pendingWrites = new Map<number, { term: number; reply: (r: Reply) => void }>();
  pendingReads = new Map<number, { key: string; reply: (r: Reply) => void }>();
  incoming: Uint8Array | null = null;
  nextReadId = 1;
  /** Paused (as by SIGSTOP) until this virtual time: nothing it receives is processed before then. */
  pausedUntil = 0;
  /** Commit index up to which the invariant checker has recorded this node's committed entries. */
  checkedCommit = 0;
  /** Commit index up to which the check that a leader's commits are durable on a quorum has looked. */
  leaderCheckedCommit = 0;

  constructor(
    readonly id: NodeId,
    public disk: Disk,
  ) {}

  get alive(): boolean {
    return this.core !== null;
  }

  /** What the state machine has applied. */
  get applied(): number {
    return this.processor?.applied ?? 0;
  }
}

export class Simulation {
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly queue = new EventQueue<() => void>();
  private now = 0;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly violations: string[] = [];
  private readonly traceLines: string[] = [];
  private readonly opts: Required<SimOptions>;
  /** Directed links that drop everything (partitions, one-way loss). */
  private readonly blocked = new Set<string>();
  private dropRate = 0;
  private dupRate = 0;
  private maxDelay = 5;
  private healed = false;
  /** While set, a node that just became leader is crashed within a few ms with this probability. */
  private leaderKillRate = 0;
  private churn = false;
  private readonly coreTuning: { maxAppendBytes: number; maxInflight: number };
  /** The runtime's `readiesInFlight`: one Ready at a time (its default) or pipelined writes. */
  private readonly readiesInFlight: number;
  private nextNodeNumber: number;

  // invariant state
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entryAt = new Map<string, { entry: Entry; prevTerm: number }>();
  private readonly committed = new Map<number, Entry>();
  /** The term in which each committed entry was first seen committed (an upper bound of its commit term). */
  private readonly committedInTerm = new Map<number, number>();
  /** Key-value state of the first replica that reached each snapshot index. */
  private readonly stateAt = new Map<number, string>();

  // history
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly stats: SimResult['stats'] = {
    events: 0,
    messages: 0,
    ops: 0,
    okWrites: 0,
    okReads: 0,
    unknown: 0,
    elections: 0,
    crashes: 0,
    tornWrites: 0,
    snapshotsSent: 0,
    confChanges: 0,
    finalCommit: 0,
  };
  private lastWriteOkAt = -1;

  constructor(options: SimOptions) {
    this.opts = { faultMs: 8000, healMs: 6000, clients: 4, trace: false, ...options };
    const root = new Rng(options.seed);
    this.rng = root.fork();
    this.netRng = root.fork();
    this.coreTuning = { maxAppendBytes: this.rng.pick([64, 512, 4096]), maxInflight: this.rng.pick([1, 4, 16]) };
    this.readiesInFlight = this.rng.pick([1, 4]);
    let n = this.rng.chance(0.5) ? 3 : 5;
    if (this.rng.chance(0.25)) {
      // Churn profile: leaders die within milliseconds of election on a lossy network, one entry per
      // append, so that entries of several terms pile up at the same indexes (the Figure 8 shape).
      n = 3;
      this.churn = true;
      this.leaderKillRate = 0.7;
      this.dropRate = 0.1;
      this.maxDelay = 20;
      this.coreTuning = { maxAppendBytes: 1, maxInflight: 1 };
    }
    const conf: ConfState = { voters: [], learners: [], addresses: {} };
    for (let i = 1; i <= n; i++) conf.voters.push(`n${i}`);
    for (const id of conf.voters) this.addNode(id, conf);
    this.nextNodeNumber = n + 1;
  }

  run(): SimResult {
    try {
      this.start();
      const end = this.opts.faultMs + this.opts.healMs;
      while (this.violations.length === 0) {
        const ev = this.queue.pop();
        if (ev === undefined || ev.time > end) break;
        this.now = ev.time;
        this.stats.events++;
        ev.item();
      }
      if (this.violations.length === 0) this.finalChecks();
    } catch (err) {
      this.violation(`exception: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    return { seed: this.opts.seed, violations: this.violations, trace: this.traceLines, stats: this.stats };
  }

  // ---------------------------------------------------------------- setup

  private addNode(id: NodeId, conf: ConfState): SimNode {
    const disk: Disk = {
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: { index: 0, term: 0, conf, size: 0 },
      snapshotData: new Uint8Array(0),
      entries: [],
    };
    const node = new SimNode(id, disk);
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private start(): void {
    for (let c = 0; c < this.opts.clients; c++) this.startClient(c);
    this.scheduleFault(this.rng.int(200, 800));
    this.at(this.opts.faultMs, () => this.heal());
  }

  private at(time: number, fn: () => void): void {
    this.queue.push(time, fn);
  }

  private trace(line: string): void {
    if (this.opts.trace) this.traceLines.push(`${String(this.now).padStart(6)}ms ${line}`);
  }

  private violation(what: string): void {
    this.violations.push(`t=${this.now}ms ${what}`);
    this.trace(`VIOLATION ${what}`);
  }

  // ---------------------------------------------------------------- node lifecycle

  private boot(node: SimNode): void {
    node.incarnation++;
    const rng = this.rng.fork();
    const disk = node.disk;
    node.core = new RaftCore(
      { id: node.id, electionTicks: [15, 30], heartbeatTicks: 5, random: () => rng.next(), snapshotChunkSize: 256, ...this.coreTuning },
      { hardState: { ...disk.hardState }, snapshot: disk.snapshot, entries: disk.entries.slice() },
    );
    this.restoreStateMachine(node, disk.snapshotData);
    node.processor = new ReadyProcessor(node.core, this.readyPorts(node), { hardState: { ...disk.hardState }, applied: disk.snapshot.index }, this.readiesInFlight);
    node.writes = [];
    node.lastWriteAt = 0;
    node.checkedCommit = 0;
    node.leaderCheckedCommit = 0;
    node.pendingWrites.clear();
    node.pendingReads.clear();
    node.incoming = null;
    const inc = node.incarnation;
    const tick = (): void => {
      if (node.incarnation !== inc || node.core === null) return;
      if (this.now < node.pausedUntil) {
        this.at(node.pausedUntil, tick);
        return;
      }
      node.core.tick();
      this.afterEvent(node);
      this.at(this.now + TICK_MS, tick);
    };
    this.at(this.now + this.rng.int(1, TICK_MS), tick);
  }

  /** Runs `fn` now, or when the node resumes if it is paused (its kernel buffers what arrives meanwhile). */
  private whenRunning(node: SimNode, fn: () => void): void {
    if (this.now < node.pausedUntil) this.at(node.pausedUntil + 1, fn);
    else fn();
  }

  private crash(node: SimNode): void {
    if (!node.alive) return;
    this.trace(`${node.id} CRASH (term ${node.core!.term}, ${node.core!.role})`);
    this.stats.crashes++;
    this.landInFlightWrites(node);
    node.core = null;
    node.incarnation++;
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  private restart(node: SimNode): void {
    if (node.alive) return;
    this.trace(`${node.id} RESTART from disk (term ${node.disk.hardState.term}, snapshot ${node.disk.snapshot.index}, ${node.disk.entries.length} entries)`);
    this.boot(node);
    this.afterEvent(node);
  }

  // ---------------------------------------------------------------- the driver: the runtime's Ready processor, on a virtual disk and network

  /** Begins Readies while the node has one and its processor takes more (writes are pipelined, as in the runtime). */
  private afterEvent(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    this.checkNode(node);
    const processor = node.processor!;
    while (node.core === core && processor.canBegin() && core.hasReady()) {
      const rd = core.ready();
      this.checkReady(node, rd);
      if (rd.committed.length > 0) this.trace(`${node.id} hands out ${rd.committed[0].index}..${rd.committed[rd.committed.length - 1].index} for apply`);
      processor.begin(rd);
    }
  }

  private readyPorts(node: SimNode): ReadyPorts<CommandResult> {
    return {
      softState: (soft) => this.onSoftState(node, soft.role, soft.leaderId),
      send: (messages) => {
        for (const m of messages) this.send(node, m);
      },
      writeSnapshotChunks: (chunks, written) => {
        for (const chunk of chunks) {
          if (chunk.offset === 0) node.incoming = new Uint8Array(chunk.meta.size);
          node.incoming!.set(chunk.data, chunk.offset);
        }
        written();
      },
      persist: (write, durable) => {
        const pending: PendingWrite = { write, snapshotData: write.snapshot === null ? null : node.incoming };
        if (write.snapshot !== null) node.incoming = null;
        node.writes.push(pending);
        // A write takes diskMs and completes after the ones handed over before it; a crash meanwhile
        // may leave a prefix of them on the disk (see crash()). A write the node is to crash in stalls,
        // so that peers' acknowledgements can arrive before it.
        const stall = node.crashInNextWrite ? this.rng.int(2, 20) : 0;
        const at = Math.max(node.lastWriteAt, this.now + this.rng.int(node.diskMs[0], node.diskMs[1]) + stall);
        node.lastWriteAt = at;
        const inc = node.incarnation;
        if (node.crashInNextWrite) {
          node.crashInNextWrite = false;
          this.at(this.now + this.rng.int(0, stall - 1), () => {
            if (node.incarnation !== inc) return;
            this.trace(`FAULT ${node.id} crashes with ${node.writes.length} writes in flight`);
            this.crash(node);
            this.at(this.now + this.rng.int(5, 150), () => this.restart(node));
          });
        }
        this.at(at, () => {
          if (node.incarnation !== inc || node.core === null) return;
          if (node.writes.shift() !== pending) this.violation(`${node.id}: virtual writes completed out of order`);
          this.landOnDisk(node, pending);
          durable();
        });
      },
      restoreSnapshot: (meta) => {
        this.trace(`${node.id} installs snapshot ${meta.index}/${meta.term}`);
        this.restoreStateMachine(node, node.disk.snapshotData);
        this.compareState(node, meta.index, this.stateMachineSnapshot(node));
      },
      apply: (e) => {
        if (e.index !== node.applied + 1) this.violation(`${node.id} applies ${e.index} after ${node.applied}`);
        return this.applyCommand(node, e);
      },
      onApplied: (e, result) => {
        const pending = node.pendingWrites.get(e.index);
        if (pending !== undefined) {
          node.pendingWrites.delete(e.index);
          if (pending.term === e.term && result !== null) pending.reply({ ok: true, value: result });
          else pending.reply({ ok: false, leaderHint: node.core!.leaderId });
        }
        // A snapshot accepted from the leader but not yet installed already covers this index: skip.
        if (e.index % COMPACTION_THRESHOLD === 0 && e.index > node.core!.log.snapshot.index) this.takeSnapshot(node);
      },
      readFailed: (requestId) => {
        this.trace(`${node.id} read ${requestId} failed`);
        node.pendingReads.get(requestId)?.reply({ ok: false, leaderHint: node.core!.leaderId });
        node.pendingReads.delete(requestId);
      },
      finished: () => this.afterEvent(node),
      fail: (err) => {
        throw err;
      },
      serveRead: (requestId) => {
        const read = node.pendingReads.get(requestId);
        node.pendingReads.delete(requestId);
        this.trace(`${node.id} serves read ${requestId} at applied ${node.applied}`);
        read?.reply({ ok: true, value: node.kv.get(read.key) ?? '' });
      },
    };
  }

  private onSoftState(node: SimNode, role: Role, leaderId: NodeId | null): void {
    this.trace(`${node.id} ${role} term ${node.core!.term} leader ${leaderId ?? '-'}`);
    if (role !== 'leader') return;
    this.stats.elections++;
    if (!this.healed && this.rng.chance(this.leaderKillRate)) {
      const inc = node.incarnation;
      this.at(this.now + this.rng.int(1, 15), () => {
        if (node.incarnation !== inc) return;
        this.crash(node);
        // Churn: it comes back soon, so that leaders keep changing over the same indexes (Figure 8).
        this.at(this.now + this.rng.int(5, 150), () => this.restart(node));
      });
    }
  }

  /** A virtual disk write completes: what `persist` was given reaches the disk. */
  private landOnDisk(node: SimNode, { write, snapshotData }: PendingWrite): void {
    const disk = node.disk;
    if (write.snapshot !== null) {
      const meta = write.snapshot;
      const at = disk.entries.find((e) => e.index === meta.index);
      disk.entries = at !== undefined && at.term === meta.term ? disk.entries.filter((e) => e.index > meta.index) : [];
      disk.snapshot = meta;
      disk.snapshotData = snapshotData ?? new Uint8Array(0);
    }
    if (write.entries.length > 0) {
      const first = write.entries[0].index;
      disk.entries = disk.entries.filter((e) => e.index < first).concat(write.entries);
    }
    if (write.hardState !== null) disk.hardState = { ...write.hardState };
  }

  /**
   * What a crash leaves of the writes in flight: the disk may have taken some of them whole before
   * the node learned they were durable, and the next one torn, in the order storage writes a record
   * (snapshot install, hard state, then the entries, as the WAL does).
   */
  private landInFlightWrites(node: SimNode): void {
    const writes = node.writes;
    node.writes = [];
    if (writes.length === 0) return;
    const whole = this.rng.int(0, writes.length);
    for (let i = 0; i < whole; i++) this.landOnDisk(node, writes[i]);
    if (whole === writes.length || !this.rng.chance(0.5)) return;
    const { write, snapshotData } = writes[whole];
    const parts = (write.snapshot === null ? 0 : 1) + (write.hardState === null ? 0 : 1) + write.entries.length;
    let left = this.rng.int(0, parts - 1);
    const torn: DurableWrite = { snapshot: null, hardState: null, entries: [] };
    if (write.snapshot !== null) {
      if (left === 0) return;
      torn.snapshot = write.snapshot;
      left--;
    }
    if (write.hardState !== null && left > 0) {
      torn.hardState = write.hardState;
      left--;
    }
    torn.entries = write.entries.slice(0, left);
    this.stats.tornWrites++;
    this.trace(`${node.id} crash tears a write: ${torn.snapshot === null ? '' : 'snapshot, '}${torn.hardState === null ? '' : 'hard state, '}${torn.entries.length} of ${write.entries.length} entries land`);
    this.landOnDisk(node, { write: torn, snapshotData });
  }

  /** Every node snapshots at multiples of the threshold, so replica states can be compared there. */
  private takeSnapshot(node: SimNode): void {
    const core = node.core!;
    const index = node.applied;
    const snap = this.stateMachineSnapshot(node);
    this.compareState(node, index, snap);
    const data = encoder.encode(JSON.stringify(snap));
    const meta: SnapshotMeta = { index, term: core.log.term(index), conf: core.confAt(index), size: data.length };
    node.disk.snapshot = meta;
    node.disk.snapshotData = data;
    node.disk.entries = node.disk.entries.filter((e) => e.index > index);
    core.compact(meta);
  }

  private compareState(node: SimNode, index: number, snap: StateMachineSnapshot): void {
    const state = JSON.stringify(snap.kv);
    const seen = this.stateAt.get(index);
    if (seen === undefined) this.stateAt.set(index, state);
    else if (seen !== state) this.violation(`replica divergence: ${node.id} state at index ${index} differs from another replica's`);
  }


  private stateMachineSnapshot(node: SimNode): StateMachineSnapshot {
    return { kv: [...node.kv].sort(), sessions: node.sessions.toSnapshot() };
  }

  private restoreStateMachine(node: SimNode, data: Uint8Array): void {
    node.kv = new Map();
    node.sessions = new SessionTable<string>({ maxSessions: 64, maxResponsesPerClient: 4 });
    if (data.length === 0) return;
    const snap = JSON.parse(decoder.decode(data)) as StateMachineSnapshot;
    node.kv = new Map(snap.kv);
    node.sessions.restore(snap.sessions);
  }

  private applyCommand(node: SimNode, e: Entry): CommandResult {
    let result: CommandResult = null;
    if (e.type === EntryType.Normal) {
      const cmd = JSON.parse(decoder.decode(e.data)) as Command;
      const seen = node.sessions.lookup(cmd.client, cmd.seq, cmd.ackedBelow);
      if (seen.kind === 'duplicate') result = seen.response;
      else if (seen.kind === 'new') {
        const cur = node.kv.get(cmd.op.key) ?? '';
        if (cmd.op.kind === 'put') {
          node.kv.set(cmd.op.key, cmd.op.value!);
          result = '';
        } else {
          result = cur + cmd.op.value!;
          node.kv.set(cmd.op.key, result);
        }
        node.sessions.record(cmd.client, cmd.seq, result, e.index);
      }
    }
    return result;
  }

  // ---------------------------------------------------------------- network

  private send(from: SimNode, m: Message): void {
    this.stats.messages++;
    if (m.type === 'snapshot') {
      // The driver fills chunk bytes from its snapshot store; the core only chose the range.
      if (from.disk.snapshot.index !== m.meta.index) return;
      m = { ...m, data: from.disk.snapshotData.subarray(m.offset, m.offset + m.length) };
      if (m.offset === 0) this.stats.snapshotsSent++;
    }
    const link = `${m.from}>${m.to}`;
    if (this.blocked.has(link) || this.netRng.chance(this.dropRate)) return;
    const copies = this.netRng.chance(this.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.at(this.now + this.netRng.int(1, this.maxDelay), () => {
        const to = this.nodes.get(m.to);
        if (to === undefined || to.core === null || this.blocked.has(link)) return;
        this.whenRunning(to, () => {
          to.core?.step(m);
          this.afterEvent(to);
        });
      });
    }
  }

  // ---------------------------------------------------------------- clients

  private startClient(c: number): void {
    const rng = this.rng.fork();
    const client = `c${c}`;
    let seq = 0;
    let target: NodeId = rng.pick([...this.nodes.keys()]);
    const next = (): void => {
      if (this.now >= this.opts.faultMs + this.opts.healMs - CLIENT_TIMEOUT_MS) return;
      const key = `k${rng.int(0, 2)}`;
      // Clients do not all stick to one node: a deposed leader and the new one both get traffic.
      if (rng.chance(0.3)) target = rng.pick([...this.nodes.keys()]);
      const r = rng.next();
      const input: KvInput = r < 0.5 ? { kind: 'get', key } : r < 0.8 ? { kind: 'append', key, value: `${c}.${seq + 1};` } : { kind: 'put', key, value: `${c}.${seq + 1};` };
      const op: Operation<KvInput, KvOutput> = { clientId: c, input, output: undefined, call: this.now, ret: Infinity };
      this.history.push(op);
      this.stats.ops++;
      if (input.kind !== 'get') seq++;
      const cmd: Command = { client, seq, ackedBelow: seq, op: input };
      let done = false;
      let attempt = 0;
      const tryOnce = (): void => {
        if (done) return;
        const myAttempt = ++attempt;
        const node = this.nodes.get(target)!;
        const answer = (reply: Reply): void => {
          this.at(this.now + rng.int(1, 3), () => {
            if (done || (myAttempt !== attempt && !reply.ok)) return;
            if (reply.ok) {
              done = true;
              op.ret = this.now;
              op.output = { value: reply.value };
              if (input.kind === 'get') this.stats.okReads++;
              else {
                this.stats.okWrites++;
                this.lastWriteOkAt = this.now;
              }
              this.trace(`client ${c} ok ${describe(input)} -> ${JSON.stringify(op.output.value)} via ${node.id}`);
              this.at(this.now + rng.int(1, 20), next);
            } else {
              // A follower's hint can name a leader that is already gone: sometimes try elsewhere.
              const hint = reply.leaderHint;
              target = hint !== null && this.nodes.has(hint) && rng.chance(0.7) ? hint : rng.pick([...this.nodes.keys()]);
              this.at(this.now + rng.int(5, 20), tryOnce);
            }
          });
        };
        this.at(this.now + rng.int(1, 3), () => this.whenRunning(node, () => this.clientRequest(node, input, cmd, answer)));
        this.at(this.now + CLIENT_TIMEOUT_MS, () => {
          if (done || myAttempt !== attempt) return;
          target = rng.pick([...this.nodes.keys()]);
          tryOnce();
        });
      };
      tryOnce();
    };
    this.at(rng.int(0, 50), next);
  }

  private clientRequest(node: SimNode, input: KvInput, cmd: Command, answer: (r: Reply) => void): void {
    const core = node.core;
    if (core === null) return; // a dead node never answers
    if (input.kind === 'get') {
      const requestId = node.nextReadId++;
      node.pendingReads.set(requestId, { key: input.key, reply: answer });
      core.readIndex(requestId);
      this.afterEvent(node);
      return;
    }
    try {
      const pos = core.propose(encoder.encode(JSON.stringify(cmd)));
      node.pendingWrites.get(pos.index)?.reply({ ok: false, leaderHint: null });
      node.pendingWrites.set(pos.index, { term: pos.term, reply: answer });
      this.afterEvent(node);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      answer({ ok: false, leaderHint: core.leaderId });
    }
  }

  // ---------------------------------------------------------------- faults

  private scheduleFault(at: number): void {
    if (at >= this.opts.faultMs) return;
    this.at(at, () => {
      if (this.healed) return;
      this.injectFault();
      this.scheduleFault(this.now + this.rng.int(100, 1200));
    });
  }

  private liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.alive).map((n) => n.id);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.core?.role === 'leader' && (best === undefined || n.core.term > best.core!.term)) best = n;
    }
    return best;
  }

  /** With probability `chance` the leader (when there is one), otherwise one of `candidates`. */
  private leaderOr(chance: number, candidates: NodeId[]): SimNode | undefined {
    const l = this.rng.chance(chance) ? this.leader() : undefined;
    return l ?? (candidates.length > 0 ? this.nodes.get(this.rng.pick(candidates)) : undefined);
  }

  private injectFault(): void {
    const ids = [...this.nodes.keys()];
    const r = this.rng.next();
    if (r < 0.15) {
      const side = this.rng.shuffle(ids.slice()).slice(0, this.rng.int(1, Math.floor(ids.length / 2)));
      this.partition(side);
      this.trace(`FAULT partition [${side}] | rest`);
    } else if (r < 0.22) {
      const l = this.leader();
      if (l !== undefined) {
        this.partition([l.id]);
        this.trace(`FAULT isolate leader ${l.id}`);
      }
    } else if (r < 0.3) {
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids.filter((x) => x !== a));
      this.blocked.add(`${a}>${b}`);
      this.trace(`FAULT one-way loss ${a} -> ${b}`);
    } else if (r < 0.42) {
      this.blocked.clear();
      this.trace('FAULT heal partitions');
    } else if (r < 0.5) {
      const live = this.liveIds();
      if (live.length > 0) this.crash(this.nodes.get(this.rng.pick(live))!);
    } else if (r < 0.55) {
      // A crash inside a Ready: its messages left, its write did not finish (the leader, most often:
      // what it counted towards a commit must be what it had synced).
      const node = this.leaderOr(0.6, this.liveIds());
      if (node !== undefined) {
        node.crashInNextWrite = true;
        this.trace(`FAULT ${node.id} will crash during its next write`);
      }
    } else if (r < 0.555) {
      // A pause longer than the election timeout: on waking, a leader still believes it leads.
      const node = this.leaderOr(0.7, this.liveIds().length > 0 ? this.liveIds() : ids)!;
      node.pausedUntil = this.now + this.rng.int(200, 1000);
      this.trace(`FAULT pause ${node.id} until ${node.pausedUntil}ms`);
    } else if (r < 0.58) {
      for (const n of this.nodes.values()) this.crash(n);
      this.trace('FAULT crash all');
    } else if (r < 0.72) {
      const dead = [...this.nodes.values()].filter((n) => !n.alive);
      if (dead.length > 0) this.restart(this.rng.pick(dead));
    } else if (r < 0.8) {
      this.leaderKillRate = this.churn ? 0.7 : this.rng.pick([0, 0.3, 0.6, 0.9]);
      this.trace(`FAULT new leaders crash soon after election with probability ${this.leaderKillRate}`);
    } else if (r < 0.85) {
      this.dropRate = this.rng.pick([0, 0.01, 0.05, 0.2]);
      this.dupRate = this.rng.pick([0, 0.02, 0.1]);
      this.maxDelay = this.rng.pick([2, 5, 20, 60]);
      this.trace(`FAULT network drop ${this.dropRate} dup ${this.dupRate} delay <= ${this.maxDelay}ms`);
    } else if (r < 0.9) {
      this.changeMembership();
    } else if (r < 0.93) {
      // A slow disk for a while: acknowledgements from faster peers arrive before the node's own sync.
      const node = this.leaderOr(0.5, ids)!;
      node.diskMs = this.rng.pick<[number, number]>([
        [2, 10],
        [5, 40],
      ]);
      this.trace(`FAULT slow disk on ${node.id}: writes take ${node.diskMs[0]}-${node.diskMs[1]} ms`);
      this.at(this.now + this.rng.int(300, 2000), () => {
        node.diskMs = [0, 3];
      });
    } else {
      const l = this.leader();
      if (l !== undefined) {
        const voters = l.core!.conf.voters.filter((v) => v !== l.id);
        if (voters.length > 0) {
          const to = this.rng.pick(voters);
          this.trace(`FAULT transfer leadership ${l.id} -> ${to}`);
          l.core!.transferLeadership(to);
          this.afterEvent(l);
        }
      }
    }
  }

  private partition(side: NodeId[]): void {
    this.blocked.clear();
    for (const a of this.nodes.keys()) {
      for (const b of this.nodes.keys()) {
        if (side.includes(a) !== side.includes(b)) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  private changeMembership(): void {
    const l = this.leader();
    if (l === undefined) return;
    const core = l.core!;
    const conf = core.conf;
    try {
      if (conf.voters.length + conf.learners.length < 6 && (conf.voters.length < 4 || this.rng.chance(0.5))) {
        const id = `n${this.nextNodeNumber++}`;
        core.proposeConfChange({ type: 'addLearner', id, address: `sim://${id}` });
        this.trace(`FAULT add learner ${id} via ${l.id}`);
        this.addNode(id, { voters: [], learners: [], addresses: {} });
        if (this.blocked.size > 0) this.partition([]);
      } else if (conf.voters.length > 3) {
        const victim = this.rng.pick(conf.voters);
        core.proposeConfChange({ type: 'remove', id: victim });
        this.trace(`FAULT remove ${victim} via ${l.id}`);
      } else return;
      this.stats.confChanges++;
      this.afterEvent(l);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.trace(`membership change refused: ${err.message}`);
    }
  }

  private heal(): void {
    this.healed = true;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.maxDelay = 5;
    for (const n of this.nodes.values()) this.restart(n);
    this.trace('HEAL: all links up, all nodes running');
  }

  // ---------------------------------------------------------------- invariants

  private checkNode(node: SimNode): void {
    const core = node.core!;
    if (core.role === 'leader') {
      const prev = this.leaderOfTerm.get(core.term);
      if (prev === undefined) {
        this.leaderOfTerm.set(core.term, node.id);
        this.checkLeaderCompleteness(node);
      } else if (prev !== node.id) {
        this.violation(`election safety: ${prev} and ${node.id} both leader in term ${core.term}`);
      }
    }
    const log = core.log;
    if (log.commit > log.lastIndex()) this.violation(`${node.id} commit ${log.commit} beyond last index ${log.lastIndex()}`);
    // Whatever any node considers committed must be the same entry everywhere, forever.
    for (let i = Math.max(node.checkedCommit, log.snapshot.index) + 1; i <= log.commit; i++) this.recordCommitted(node, log.entry(i)!);
    node.checkedCommit = log.commit;
    if (core.role === 'leader' && log.commit > node.leaderCheckedCommit) {
      node.leaderCheckedCommit = log.commit;
      this.checkCommitDurable(node);
    }
  }

  /**
   * A leader commits an entry of its term once a quorum of voters has it on disk: counting its own
   * entries before they are synced, or acknowledgements sent before they are, breaks this at once,
   * where the lost entry only shows when crashes and elections line up to overwrite it.
   */
  private checkCommitDurable(node: SimNode): void {
    const core = node.core!;
    const index = core.log.commit;
    const term = core.log.term(index);
    if (term !== core.term) return; // entries of earlier terms commit only by one of this term
    const voters = core.conf.voters;
    const durable = voters.filter((id) => {
      const disk = this.nodes.get(id)?.disk;
      if (disk === undefined) return false;
      if (disk.snapshot.index >= index) return true;
      const first = disk.entries.length > 0 ? disk.entries[0].index : disk.snapshot.index + 1;
      return disk.entries[index - first]?.term === term;
    }).length;
    if (durable <= voters.length / 2) {
      this.violation(`${node.id} (leader, term ${term}) committed ${index} while it is on the disk of only ${durable} of ${voters.length} voters`);
    }
  }

  private checkLeaderCompleteness(node: SimNode): void {
    const log = node.core!.log;
    const term = node.core!.term;
    for (const [index, entry] of this.committed) {
      // Leader completeness binds leaders of later terms only: a candidate that was paused can still
      // win an older term after a newer leader committed more, and is deposed at its first append.
      if (index <= log.snapshot.index || this.committedInTerm.get(index)! >= term) continue;
      if (log.entry(index) !== entry) {
        this.violation(`leader completeness: leader ${node.id} (term ${node.core!.term}) lacks committed entry ${index}/${entry.term}`);
        return;
      }
    }
  }

  private checkReady(node: SimNode, rd: Ready): void {
    const log = node.core!.log;
    for (const e of rd.entries) {
      const key = `${e.index}:${e.term}`;
      const prevTerm = log.term(e.index - 1);
      const seen = this.entryAt.get(key);
      if (seen === undefined) {
        this.entryAt.set(key, { entry: e, prevTerm });
      } else if (seen.entry !== e) {
        this.violation(`log matching: two different entries at index ${e.index} term ${e.term} (${node.id})`);
      } else if (seen.prevTerm !== prevTerm && prevTerm !== -1) {
        this.violation(`log matching: entry ${key} follows term ${prevTerm} on ${node.id} but term ${seen.prevTerm} elsewhere`);
      }
    }
    for (const e of rd.committed) {
      this.recordCommitted(node, e);
      if (e.index > node.core!.log.commit) this.violation(`${node.id} applies ${e.index} beyond its commit ${node.core!.log.commit}`);
    }
  }

  private recordCommitted(node: SimNode, e: Entry): void {
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, e);
      this.committedInTerm.set(e.index, node.core!.term);
    } else if (c !== e) {
      this.violation(`state machine safety: ${node.id} has ${e.index}/${e.term} committed, another node committed ${c.index}/${c.term}`);
    }
  }

  private finalChecks(): void {
    const healAt = this.opts.faultMs;
    const leader = this.leader();
    if (leader === undefined) this.violation('liveness: no leader at the end of the heal period');
    if (this.lastWriteOkAt < healAt) this.violation(`liveness: no write succeeded within ${this.opts.healMs}ms of healing`);
    for (const op of this.history) if (op.ret === Infinity) this.stats.unknown++;
    this.stats.finalCommit = leader?.core?.log.commit ?? 0;
    const res = checkLinearizability(kvModel, this.history, { timeoutMs: 20_000 });
    if (res.verdict === 'illegal') this.violation(`linearizability: ${res.details ?? ''}`);
    else if (res.verdict === 'timeout') this.violation('linearizability: checker timed out');
  }
}

function describe(input: KvInput): string {
  return input.kind === 'get' ? `get ${input.key}` : `${input.kind} ${input.key} ${input.value}`;
}

export function runSeed(seed: number, options: Omit<SimOptions, 'seed'> = {}): SimResult {
  return new Simulation({ seed, ...options }).run();
}
