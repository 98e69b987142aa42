import { EventEmitter } from 'node:events';
import { ConfChange, ConfState, Entry, EntryType, Message, NodeId, RaftConfig, RaftCore, RaftError, RaftStatus, Role, SnapshotChunkWrite, SnapshotMeta } from '../core';
import type { RaftStorage, SnapshotWriter } from '../storage/types';
import { asError } from './as-error';
import { DurableWrite, ReadyProcessor } from './ready-processor';

/** Where messages go; the HTTP transport implements it, tests may use an in-process one. */
export interface MessageTransport {
  send(messages: Message[]): void;
  setPeers(addresses: Record<NodeId, string>): void;
  close(): Promise<void>;
}

export interface ApplyContext {
  index: number;
  term: number;
}

/**
 * The replicated state. `apply` must be deterministic: the same entries in the same order give the same
 * state and results on every node.
 */
export interface StateMachine {
  apply(entry: Entry, ctx: ApplyContext): unknown;
  /** The state's bytes; a promise holds applies back until it resolves (the state must not move meanwhile). */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional, preferred over `snapshot()`: the state as it is at the call, whose bytes may be produced
   * later while applies go on (copy-on-write). Resolves to null when the state was replaced meanwhile
   * (a leader's snapshot restored): that snapshot is skipped.
   */
  captureSnapshot?(): Promise<Uint8Array | null>;
  restore(data: Uint8Array): void | Promise<void>;
}

export interface RaftNodeLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  /** Initial voters (`id` -> URL); empty for a node that joins a running cluster. */
  initialMembers: Record<NodeId, string>;
  electionTimeoutMs: [number, number];
  heartbeatMs: number;
  /** Entries applied since the last snapshot that trigger a new one. */
  compactionThreshold: number;
  storage: RaftStorage;
  transport: MessageTransport;
  stateMachine: StateMachine;
  logger?: RaftNodeLogger;
  random?: () => number;
  /** Passed to the core. */
  maxInflight?: number;
  maxAppendBytes?: number;
  snapshotChunkSize?: number;
  maxUncommittedEntries?: number;
  maxPendingReads?: number;
  /**
   * Readies whose writes may be in flight at once. Default 1: each waits for the previous one's sync,
   * which measured as fast on two cores and cheaper per command (decision 0009).
   */
  readiesInFlight?: number;
}

export interface TickTiming {
  tickMs: number;
  heartbeatTicks: number;
  electionTicks: [number, number];
}

/**
 * How milliseconds become core ticks. Every tick is a timer wake-up, which is most of an idle node's
 * cost, so ticks are as coarse as the options allow: half a heartbeat, and at least six per minimum
 * election timeout (the defaults, 50 ms and 150-300 ms, give 25 ms ticks, 2 and 6-12 ticks).
 */
export function tickTiming(heartbeatMs: number, electionTimeoutMs: [number, number]): TickTiming {
  const tickMs = Math.max(1, Math.min(Math.floor(heartbeatMs / 2), Math.floor(electionTimeoutMs[0] / 6)));
  const ticks = (ms: number): number => Math.max(1, Math.round(ms / tickMs));
  return { tickMs, heartbeatTicks: ticks(heartbeatMs), electionTicks: [ticks(electionTimeoutMs[0]), ticks(electionTimeoutMs[1])] };
}

export class NotLeaderError extends Error {
  readonly code = 'not_leader';
  constructor(readonly leaderId: NodeId | null) {
    super(`not the leader${leaderId !== null ? ` (leader is ${leaderId})` : ' (no leader known)'}`);
    this.name = 'NotLeaderError';
  }
}

/** A proposal whose entry was replaced by another leader's before it committed: it was not applied. */
export class ProposalLostError extends Error {
  readonly code = 'proposal_lost';
  constructor(index: number) {
    super(`the entry at index ${index} was replaced after a leader change; the command was not applied`);
    this.name = 'ProposalLostError';
  }
}

export class NodeStoppedError extends Error {
  readonly code = 'stopped';
  constructor(reason: string) {
    super(`raft node stopped: ${reason}`);
    this.name = 'NodeStoppedError';
  }
}

export interface RaftNodeEvents {
  role: [Role, number];
  leader: [NodeId | null, number];
  /**
   * The state machine reflects the log up to this index: after each entry it applied, and after a
   * snapshot from the leader was installed (the snapshot's index; `applied` reads it a moment later).
   */
  applied: [number];
  conf: [ConfState];
  fatal: [Error];
}

interface PendingProposal {
  term: number;
  resolve(result: unknown): void;
  reject(err: Error): void;
}

interface PendingRead {
  resolve(index: number): void;
  reject(err: Error): void;
}

/** A command's outcome on this node: the state machine's result, or the error its handler threw. */
interface ApplyOutcome {
  result: unknown;
  error: Error | null;
}

/**
 * Drives a {@link RaftCore} with real timers, durable storage and a transport. Up to `readiesInFlight`
 * Readies are processed at once (default one): the next one begins (its messages leave, its write is
 * queued behind the earlier ones) while earlier writes are syncing; they finish in order. Whatever
 * arrives meanwhile is batched into the next one.
 */
export class RaftNode extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  private core!: RaftCore;
  private processor!: ReadyProcessor<ApplyOutcome>;
  private readonly opts: RaftNodeOptions;
  private readonly log: RaftNodeLogger;
  private readonly tickMs: number;
  private readonly timing: TickTiming;
  private timer: NodeJS.Timeout | null = null;
  private driveScheduled = false;
  private stopped: string | null = null;
  private fatalError: Error | null = null;
  private closed = false;
  private snapshotIndex = 0;
  /** Our own snapshot being written in the background; at most one at a time. */
  private snapshotWrite: Promise<void> | null = null;
  /** Written and committed: the log is compacted up to it between two Readies. */
  private snapshotToCompact: SnapshotMeta | null = null;
  private incoming: SnapshotWriter | null = null;
  private lastConf: ConfState | null = null;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  private nextReadId = 1;
  private lastLeaderContact = 0;
  private role: Role = 'follower';
  private leaderId: NodeId | null = null;

  constructor(opts: RaftNodeOptions) {
    super();
    this.opts = opts;
    this.id = opts.id;
    this.log = opts.logger ?? { info: () => {}, warn: () => {}, error: () => {} };
    this.timing = tickTiming(opts.heartbeatMs, opts.electionTimeoutMs);
    this.tickMs = this.timing.tickMs;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const initial: SnapshotMeta = {
      index: 0,
      term: 0,
      conf: { voters: Object.keys(o.initialMembers), learners: [], addresses: { ...o.initialMembers } },
      size: 0,
    };
    const state = await o.storage.open(initial);
    const random = o.random ?? Math.random;
    // Only the limits that were given: an explicit `undefined` would override the core's defaults
    // (it spreads the config over them), leaving NaN chunk sizes and no bounds at all.
    const limits: Partial<RaftConfig> = {};
    for (const key of ['maxInflight', 'maxAppendBytes', 'snapshotChunkSize', 'maxUncommittedEntries', 'maxPendingReads'] as const) {
      if (o[key] !== undefined) limits[key] = o[key];
    }
    this.core = new RaftCore(
      {
        id: o.id,
        electionTicks: this.timing.electionTicks,
        heartbeatTicks: this.timing.heartbeatTicks,
        random,
        ...limits,
      },
      state,
    );
    this.snapshotIndex = state.snapshot.index;
    if (state.snapshot.size > 0) await this.restoreFromStorage();
    this.processor = new ReadyProcessor<ApplyOutcome>(
      this.core,
      {
        softState: (s) => this.onSoftState(s.role, s.leaderId),
        send: (messages) => this.sendMessages(messages),
        writeSnapshotChunks: (chunks, written) => this.writeSnapshotChunks(chunks).then(written, (err: unknown) => this.fatal(asError(err))),
        persist: (write, durable) => this.persist(write).then(durable, (err: unknown) => this.fatal(asError(err))),
        restoreSnapshot: (meta) => this.installSnapshot(meta),
        apply: (e) => this.applyEntry(e),
        onApplied: (e, outcome) => this.settleProposal(e, outcome),
        readFailed: (id) => this.takeRead(id)?.reject(new NotLeaderError(this.core.leaderId)),
        serveRead: (id, index) => this.takeRead(id)?.resolve(index),
        finished: () => this.betweenReadies(),
        fail: (err) => this.fatal(err),
      },
      { hardState: { ...state.hardState }, applied: state.snapshot.index },
      o.readiesInFlight,
    );
    this.updatePeers();
    this.log.info(
      `started: term ${state.hardState.term}, snapshot ${state.snapshot.index}, ${state.entries.length} entries, commit ${state.hardState.commit}`,
    );
    this.timer = setInterval(() => this.onTick(), this.tickMs);
    this.timer.unref?.();
    this.scheduleDrive();
  }

  /** Stops timers and storage. Pending proposals and reads fail. */
  async stop(reason = 'shutdown'): Promise<void> {
    // After a fatal error the node is already stopped, but its transport and storage are still open.
    if (this.closed) return;
    this.closed = true;
    if (this.stopped === null) this.stopped = reason;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.failAll(new NodeStoppedError(this.stopped));
    // Readies in flight finish (their writes are already with storage); a failed node's never will.
    while (this.processor?.busy && this.fatalError === null) await new Promise((r) => setTimeout(r, 1));
    await this.snapshotWrite;
    // A clean stop keeps the newest commit index, so a restart applies everything it knew without a leader.
    const unsynced = this.processor?.unsyncedHardState() ?? null;
    if (unsynced !== null) await this.opts.storage.save(unsynced, []).catch(() => {});
    await this.incoming?.abort().catch(() => {});
    await this.opts.transport.close();
    await this.opts.storage.close();
  }

  // ---------------------------------------------------------------- inputs

  /** Messages from peers (the transport's receiving side). */
  receive(messages: Message[]): void {
    if (this.stopped !== null) return;
    for (const m of messages) {
      if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') this.lastLeaderContact = Date.now();
      this.core.step(m);
    }
    this.scheduleDrive();
  }

  /** Appends a command; resolves with the state machine's result once it is committed and applied here. */
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    if (this.stopped !== null) return Promise.reject(new NodeStoppedError(this.stopped));
    let pos: { index: number; term: number };
    try {
      pos = this.core.propose(data);
    } catch (err) {
      return Promise.reject(this.translate(err));
    }
    this.scheduleDrive();
    return new Promise((resolve, reject) => {
      this.proposals.set(pos.index, { term: pos.term, resolve: (result) => resolve({ index: pos.index, result }), reject });
    });
  }

  /** Resolves once this node's state machine reflects every write committed before the call (ReadIndex). */
  readBarrier(): Promise<number> {
    if (this.stopped !== null) return Promise.reject(new NodeStoppedError(this.stopped));
    const id = this.nextReadId++;
    const p = new Promise<number>((resolve, reject) => this.reads.set(id, { resolve, reject }));
    this.core.readIndex(id);
    this.scheduleDrive();
    return p;
  }

  changeMembership(change: ConfChange): Promise<{ index: number }> {
    if (this.stopped !== null) return Promise.reject(new NodeStoppedError(this.stopped));
    let pos: { index: number; term: number };
    try {
      pos = this.core.proposeConfChange(change);
    } catch (err) {
      return Promise.reject(this.translate(err));
    }
    this.scheduleDrive();
    return new Promise((resolve, reject) => {
      this.proposals.set(pos.index, { term: pos.term, resolve: () => resolve({ index: pos.index }), reject });
    });
  }

  transferLeadership(to?: NodeId): void {
    try {
      this.core.transferLeadership(to);
    } catch (err) {
      throw this.translate(err);
    }
    this.scheduleDrive();
  }

  // ---------------------------------------------------------------- state

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get currentRole(): Role {
    return this.role;
  }

  get leader(): NodeId | null {
    return this.leaderId;
  }

  get applied(): number {
    return this.processor?.applied ?? 0;
  }

  get stopReason(): string | null {
    return this.stopped;
  }

  /** Milliseconds since a leader was last heard from (0 on the leader). */
  msSinceLeaderContact(): number {
    return this.role === 'leader' ? 0 : Date.now() - this.lastLeaderContact;
  }

  status(): RaftStatus & { appliedIndex: number; tickMs: number } {
    return { ...this.core.status(), appliedIndex: this.applied, tickMs: this.tickMs };
  }

  // ---------------------------------------------------------------- the loop

  private onTick(): void {
    if (this.stopped !== null) return;
    this.core.tick();
    if (this.core.hasReady()) this.scheduleDrive();
  }

  /** Coalesces everything that happens in one event-loop turn into one Ready. */
  private scheduleDrive(): void {
    if (this.driveScheduled || this.stopped !== null) return;
    this.driveScheduled = true;
    setImmediate(() => {
      this.driveScheduled = false;
      this.drive();
    });
  }

  /** Begins Readies while the core has one and the processor takes more: writes are pipelined. */
  private drive(): void {
    if (this.stopped !== null) return;
    try {
      this.compactToWrittenSnapshot();
      while (this.stopped === null && this.processor.canBegin() && this.core.hasReady()) {
        this.processor.begin(this.core.ready());
      }
    } catch (err) {
      this.fatal(asError(err));
    }
  }

  /** After each Ready's apply: nothing else is being applied, so the state machine can be snapshotted. */
  private async betweenReadies(): Promise<void> {
    if (this.stopped !== null) return;
    if (this.core.conf !== this.lastConf) this.updatePeers();
    this.compactToWrittenSnapshot();
    await this.maybeSnapshot();
    this.scheduleDrive();
  }

  // ---------------------------------------------------------------- the ports of the Ready processor

  private sendMessages(messages: Message[]): void {
    // A member added since the last Ready (by this leader's proposal, or an entry just received) needs
    // its address before messages go out, or the first append to it is dropped.
    if (this.core.conf !== this.lastConf) this.updatePeers();
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === 'snapshot') void this.sendSnapshotChunk(m);
      else plain.push(m);
    }
    this.opts.transport.send(plain);
  }

  /** The core chose the range; the bytes come from the durable snapshot. */
  private async sendSnapshotChunk(m: Extract<Message, { type: 'snapshot' }>): Promise<void> {
    try {
      if (this.opts.storage.snapshotMeta().index !== m.meta.index) return;
      const data = m.length > 0 ? await this.opts.storage.readSnapshot(m.offset, m.length) : new Uint8Array(0);
      this.opts.transport.send([{ ...m, data }]);
    } catch (err) {
      this.log.warn(`could not read snapshot chunk for ${m.to}: ${(err as Error).message}`);
    }
  }

  private async writeSnapshotChunks(chunks: SnapshotChunkWrite[]): Promise<void> {
    for (const chunk of chunks) {
      if (chunk.offset === 0 || this.incoming === null || this.incoming.meta.index !== chunk.meta.index) {
        await this.incoming?.abort();
        this.incoming = this.opts.storage.beginSnapshot(chunk.meta);
      }
      await this.incoming.write(chunk.offset, chunk.data);
    }
  }

  private async persist({ snapshot, entries, hardState }: DurableWrite): Promise<void> {
    if (snapshot !== null) {
      if (this.incoming === null || this.incoming.meta.index !== snapshot.index) {
        // A zero-length snapshot carries no chunk bytes.
        await this.incoming?.abort();
        this.incoming = this.opts.storage.beginSnapshot(snapshot);
      }
      await this.incoming.commit();
      this.incoming = null;
    }
    if (entries.length > 0 || hardState !== null) await this.opts.storage.save(hardState, entries);
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    await this.restoreFromStorage();
    this.snapshotIndex = meta.index;
    this.log.info(`installed snapshot ${meta.index}/${meta.term} (${meta.size} bytes)`);
    this.emit('applied', meta.index);
  }

  private async applyEntry(e: Entry): Promise<ApplyOutcome> {
    if (e.type !== EntryType.Normal) return { result: undefined, error: null };
    try {
      return { result: await this.opts.stateMachine.apply(e, { index: e.index, term: e.term }), error: null };
    } catch (err) {
      // The handler's error is the command's outcome, the same on every node: the log moves on.
      return { result: undefined, error: asError(err) };
    }
  }

  private settleProposal(e: Entry, { result, error }: ApplyOutcome): void {
    const p = this.proposals.get(e.index);
    if (p !== undefined) {
      this.proposals.delete(e.index);
      if (p.term !== e.term) p.reject(new ProposalLostError(e.index));
      else if (error !== null) p.reject(error);
      else p.resolve(result);
    }
    this.emit('applied', e.index);
  }

  private takeRead(requestId: number): PendingRead | undefined {
    const read = this.reads.get(requestId);
    this.reads.delete(requestId);
    return read;
  }

  /**
   * Takes the state machine's snapshot at the applied index. The file is written and committed in the
   * background while Readies go on (a state of many MB takes tens of milliseconds to write and sync,
   * which the log and the acknowledgements should not wait for). A state machine that can capture its
   * state and serialise it later (`captureSnapshot`) does not hold applies back at all; bytes returned
   * by `snapshot()` are the state at this moment; a promise from `snapshot()` is awaited here, since
   * the state must not move until it is taken.
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.snapshotWrite !== null) return;
    const applied = this.applied;
    if (applied - this.snapshotIndex < this.opts.compactionThreshold) return;
    // A snapshot accepted from the leader but not yet installed already covers this point.
    if (applied <= this.core.log.snapshot.index) return;
    const term = this.core.log.term(applied);
    const conf = this.core.confAt(applied);
    const sm = this.opts.stateMachine;
    let bytes: Uint8Array | Promise<Uint8Array | null>;
    if (sm.captureSnapshot !== undefined) {
      bytes = sm.captureSnapshot();
    } else {
      const taken = sm.snapshot();
      bytes = taken instanceof Promise ? await taken : taken;
    }
    this.snapshotWrite = this.writeSnapshot(applied, term, conf, bytes)
      .catch((err: unknown) => this.fatal(asError(err)))
      .finally(() => {
        this.snapshotWrite = null;
      });
  }

  private async writeSnapshot(index: number, term: number, conf: ConfState, bytes: Uint8Array | Promise<Uint8Array | null>): Promise<void> {
    const data = await bytes;
    if (data === null || this.stopped !== null || index <= this.core.log.snapshot.index) return;
    const meta: SnapshotMeta = { index, term, conf, size: data.length };
    const writer = this.opts.storage.beginSnapshot(meta);
    if (data.length > 0) await writer.write(0, data);
    await writer.commit();
    if (this.stopped !== null) return;
    this.snapshotToCompact = meta;
    this.log.info(`snapshot at ${meta.index} (${data.length} bytes) written`);
    this.scheduleDrive();
  }

  /** Between two Readies (the core's log is not in use): drops the entries our written snapshot covers. */
  private compactToWrittenSnapshot(): void {
    const meta = this.snapshotToCompact;
    if (meta === null) return;
    this.snapshotToCompact = null;
    this.core.compact(meta);
    this.snapshotIndex = Math.max(this.snapshotIndex, meta.index);
  }

  private async restoreFromStorage(): Promise<void> {
    const meta = this.opts.storage.snapshotMeta();
    const data = new Uint8Array(meta.size);
    let off = 0;
    for await (const chunk of this.opts.storage.snapshotChunks()) {
      data.set(chunk, off);
      off += chunk.length;
    }
    await this.opts.stateMachine.restore(data);
  }

  private onSoftState(role: Role, leaderId: NodeId | null): void {
    const term = this.core.term;
    if (role !== this.role) {
      this.role = role;
      this.log.info(`role ${role} in term ${term}`);
      this.emit('role', role, term);
    }
    if (leaderId !== this.leaderId) {
      this.leaderId = leaderId;
      if (leaderId !== null && leaderId !== this.id) this.lastLeaderContact = Date.now();
      this.emit('leader', leaderId, term);
    }
  }

  private updatePeers(): void {
    const conf = this.core.conf;
    this.lastConf = conf;
    const peers: Record<NodeId, string> = {};
    for (const [id, url] of Object.entries(conf.addresses)) if (id !== this.id) peers[id] = url;
    this.opts.transport.setPeers(peers);
    this.emit('conf', conf);
  }

  private translate(err: unknown): Error {
    if (err instanceof RaftError && err.code === 'not_leader') return new NotLeaderError(this.core.leaderId);
    return asError(err);
  }

  private failAll(err: Error): void {
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
  }

  private fatal(err: Error): void {
    if (this.fatalError !== null) return;
    this.fatalError = err;
    this.log.error(`fatal: ${err.message}; the node stops taking part in the cluster`);
    this.stopped = `fatal: ${err.message}`;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.failAll(new NodeStoppedError(this.stopped));
    this.emit('fatal', err);
  }
}
