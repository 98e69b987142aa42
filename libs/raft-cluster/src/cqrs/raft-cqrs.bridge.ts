import * as http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import { PEER_COMMAND_PATH, signPeerRequest } from '@raft-cqrs/raft/transport';
import { QUERY_CONSISTENCY, RAFT_CLUSTER_OPTIONS, REPLICATED_STATE } from '../raft-cluster.constants';
import { ClusterHttpError, noLeaderError, RETRY_AFTER_SECONDS } from '../raft-cluster.errors';
import { RaftClusterLogger } from '../raft-cluster.logger';
import { RaftClusterMetrics } from '../raft-cluster.metrics';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { sleep } from '../internal/timing';
import { RaftClusterService } from '../raft-cluster.service';
import { currentApplyContext, isApplying } from './apply-context';
import { CqrsStateMachine, DivergenceReport } from './cqrs-state-machine';
import { CqrsReplication, ForwardedCommandsAnswer, StateDigestStatus } from './cqrs-replication';
import { ReadConsistency, replicatedCommandName, replicatedCommands, replicatedEventName, replicatedEvents } from './decorators';
import { checkUnstamped, encodeBatchRequest, encodeCommandRequest, EncodedRequest, encodeEnvelope, encodeEventRequest, encodeUnstamped, EnvelopeError, stampRequest } from './envelope';
import { jsonTextForLog, RaftPayloadCodec } from './payload';
import { deserializeError, SerializedError, serializeError } from './error-codec';
import type { ReplicatedStateStore } from './replicated-store';
import { currentRequestContext } from '../http/request-context';

/** The leader's answer for one forwarded command. */
type ForwardAnswer = { ok: true; result: unknown } | { ok: false; error: SerializedError } | ForwardFailure;

/** A forwarded command (or the whole request) refused before it had an outcome. */
interface ForwardFailure {
  error: string;
  message: string;
  retry?: boolean;
  leaderId?: string | null;
}

interface ForwardItem {
  req: EncodedRequest;
  deadline: number;
  resolve(result: unknown): void;
  reject(err: Error): void;
}

interface ForwardBatch {
  leaderId: string;
  items: ForwardItem[];
}

/** A command proposed on this node as leader, waiting for its entry's apply. */
interface WaitingCommand {
  deadline: number;
  waitedMs: number;
  reject(err: Error): void;
}

/** How often the deadlines of the commands waiting on the leader are checked. */
const DEADLINE_SWEEP_MS = 20;

/** Commands in one forwarded request, at most. */
const MAX_FORWARD_BATCH = 256;

function settleForwarded(a: { status: number; body: ForwardAnswer }, item: ForwardItem): void {
  const answer = a.body;
  if ('ok' in answer && answer.ok) item.resolve(answer.result);
  else if ('ok' in answer) item.reject(deserializeError(answer.error));
  else if (answer.retry === true) item.reject(new RetryableForwardError(`${answer.error}: ${answer.message}`));
  else item.reject(new ClusterHttpError(a.status, answer.error, answer.message, {}, a.status === 503 ? { 'Retry-After': RETRY_AFTER_SECONDS } : {}));
}

/** Commands one node holds while they wait for an outcome; beyond it, 503 (no unbounded queue in front of the log). */
const MAX_PENDING_SUBMITS = 1024;

const SEED_PREFIX = randomBytes(9).toString('base64url');


/** Errors after which the same request (same request id) is tried again, at the leader of the moment. */
function isRetryable(err: unknown): boolean {
  if (err instanceof NotLeaderError || err instanceof ProposalLostError) return true;
  if (err instanceof RaftError) return err.code === 'not_leader' || err.code === 'transfer_in_progress';
  return err instanceof RetryableForwardError;
}

/** Whether an error is the cluster's (not the handler's): such errors are never an outcome of apply. */
function isClusterError(err: unknown): boolean {
  return err instanceof NotLeaderError || err instanceof ProposalLostError || err instanceof RaftError || err instanceof NodeStoppedError || err instanceof ClusterHttpError;
}

/**
 * A command's or event's own fields as they travel in the log, as JSON text: through the app's codec, or
 * after a check that JSON carries every field faithfully (400 naming the command and the field otherwise).
 */
export function encodePayload(codec: RaftPayloadCodec | null, kind: 'command' | 'event', name: string, obj: object): string {
  const out = jsonTextForLog(codec, { ...(obj as Record<string, unknown>) });
  if (out.bad !== null) {
    throw new ClusterHttpError(
      400,
      `unserializable_${kind}`,
      `${kind} "${name}": ${out.bad.said}; the log carries JSON, so every node would see something else. Send plain JSON values, or set the codec option`,
      { [kind]: name, field: out.bad.path },
    );
  }
  return out.text;
}

function unknownName(req: EncodedRequest): { error: string; message: string } | null {
  const registry = req.k === 'evt' ? replicatedEvents : replicatedCommands;
  for (const n of req.names) {
    if (!registry.has(n)) {
      const kind = req.k === 'evt' ? 'event' : 'command';
      return { error: `unknown_${kind}`, message: `no ${kind} is registered as ${JSON.stringify(n)} on the leader` };
    }
  }
  return null;
}

class RetryableForwardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableForwardError';
  }
}

/**
 * Connects `@nestjs/cqrs` to the Raft log:
 *
 * - `CommandBus.execute` of a `@Replicated` command proposes it (on a follower: forwards it to the
 *   leader over `POST /raft/command`), retries with the same request id across leader changes, and
 *   settles with the leader's apply outcome;
 * - `QueryBus.execute` waits for a ReadIndex barrier first when the query class or the request asks for
 *   `linearizable`;
 * - `EventBus.publish` of a `@ReplicatedEvent` outside apply goes through the log;
 * - saga commands are dispatched on the leader only;
 * - provides the {@link CqrsStateMachine} that `RaftClusterService` drives when the app gives none.
 *
 * The buses are patched on their instances in `onModuleInit`, before any module's bootstrap hook, so the
 * app's own code needs no other bus.
 */
@Injectable()
export class RaftCqrsBridge implements CqrsReplication, OnModuleInit, OnApplicationShutdown {
  private commandBus: CommandBus | null = null;
  private queryBus: QueryBus | null = null;
  private eventBus: EventBus | null = null;
  private executeHandlerFn: ((command: object) => Promise<unknown>) | null = null;
  private publishLocalFn: ((event: object) => void) | null = null;
  private machine: CqrsStateMachine | null = null;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 5000 });
  private handlersRegistered!: Promise<void>;
  private markHandlersRegistered!: () => void;
  private divergence: (DivergenceReport & { at: string }) | null = null;
  /** Commands waiting for an outcome on this node: its own (proposed here or forwarded) and those forwarded to it. */
  private pending = 0;
  private seedCounter = 0;
  /** The commands waiting for their entry's apply on this node as leader. */
  private readonly waitingHere = new Set<WaitingCommand>();
  private deadlineSweep: NodeJS.Timeout | null = null;
  private roleSubscription: { unsubscribe(): void } | null = null;
  /** Commands forwarded to a leader and not answered yet. */
  private readonly forwardsInFlight = new Set<{ leaderId: string; abandon: () => void }>();
  /** Commands queued for the leader during this event-loop turn, per leader peer URL. */
  private readonly forwardBatches = new Map<string, ForwardBatch>();

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) private readonly options: ResolvedRaftClusterOptions,
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
    private readonly cluster: RaftClusterService,
    private readonly logger: RaftClusterLogger,
    private readonly metrics: RaftClusterMetrics,
  ) {
    this.handlersRegistered = new Promise((resolve) => (this.markHandlersRegistered = resolve));
  }

  /** True when the app imports CqrsModule: the bridge's state machine and routing are in use. */
  get active(): boolean {
    return this.commandBus !== null;
  }

  /** The state machine for `RaftClusterService`, or null without `@nestjs/cqrs`. */
  get stateMachine(): CqrsStateMachine | null {
    return this.machine;
  }

  onModuleInit(): void {
    const find = <T>(token: abstract new (...args: never[]) => T): T | null => {
      try {
        return this.moduleRef.get(token as never, { strict: false }) as T;
      } catch {
        return null;
      }
    };
    const commandBus = find(CommandBus);
    const queryBus = find(QueryBus);
    const eventBus = find(EventBus);
    if (commandBus === null || queryBus === null || eventBus === null) return;
    this.commandBus = commandBus;
    this.queryBus = queryBus;
    this.eventBus = eventBus;
    this.machine = new CqrsStateMachine(this.applyHost(), this.discoverStores(), {
      maxSessions: this.options.maxSessions,
      digestInterval: this.options.digestInterval,
      codec: this.options.codec,
    });
    this.patchCommandBus(commandBus);
    this.patchQueryBus(queryBus);
    this.patchEventBus(eventBus);
    this.roleSubscription = this.cluster.events$.subscribe((e) => {
      if (e.type === 'role-changed' && e.previousRole === 'leader' && e.role !== 'leader') this.onLeadershipLost();
      if (e.type === 'leader-changed') this.onLeaderChanged(e.leaderId);
    });
  }

  onApplicationShutdown(): void {
    this.roleSubscription?.unsubscribe();
    if (this.deadlineSweep !== null) clearTimeout(this.deadlineSweep);
    this.agent.destroy();
  }

  /** Digest comparisons of this replica (for `/cluster/status`). */
  digestStatus(): StateDigestStatus | null {
    if (this.machine === null) return null;
    return { ...this.machine.digestStatus(), lastMismatch: this.divergence };
  }

  // ---------------------------------------------------------------- commands

  /**
   * Applies the commands in one log entry, all or nothing: if a handler throws, the stores are put
   * back as they were before the batch (on every node) and the call rejects with that error. Resolves
   * with the handlers' results, in order. Every command must be `@Replicated`.
   */
  async executeAll(commands: object[]): Promise<unknown[]> {
    if (!Array.isArray(commands) || commands.length === 0) throw new ClusterHttpError(400, 'bad_request', 'executeAll needs at least one command');
    const c = commands.map((cmd, i) => {
      const n = cmd !== null && typeof cmd === 'object' ? replicatedCommandName(cmd) : undefined;
      if (n === undefined) throw new ClusterHttpError(400, 'unknown_command', `command ${i} of the batch is not @Replicated`);
      return { n, pj: encodePayload(this.codec, 'command', n, cmd) };
    });
    const results = (await this.submit(encodeBatchRequest(c, this.nextRequestId()))) as unknown[];
    return this.codec === null ? results : results.map((v) => this.codec!.decode(v));
  }

  private async executeReplicated(name: string, command: object): Promise<unknown> {
    const result = await this.submit(encodeCommandRequest(name, encodePayload(this.codec, 'command', name, command), this.nextRequestId()));
    return this.codec === null ? result : this.codec.decode(result);
  }

  private get codec(): RaftPayloadCodec | null {
    return this.options.codec;
  }

  /** Why `u` is over `maxCommandBytes` serialised, or null when it is not. */
  private oversize(req: EncodedRequest): string | null {
    // One byte per character at most three times over: most requests need no exact count.
    if (req.json.length * 3 <= this.options.maxCommandBytes) return null;
    const size = Buffer.byteLength(req.json);
    if (size <= this.options.maxCommandBytes) return null;
    return `the ${req.k === 'evt' ? 'event' : 'command'} is ${size} bytes serialised, over the limit of ${this.options.maxCommandBytes}`;
  }

  /** The client's request id for the n-th command of this HTTP request, or a fresh one. */
  private nextRequestId(): string {
    const rc = currentRequestContext();
    if (rc?.requestId != null) {
      const n = rc.commands++;
      return n === 0 ? rc.requestId : `${rc.requestId}#${n}`;
    }
    return randomUUID();
  }

  /**
   * Proposes on the leader of the moment until an outcome is known or `forwardTimeoutMs` runs out. The
   * request id makes every retry safe: a retry of an entry that did commit is answered from the session
   * table instead of applied again.
   */
  private async submit(req: EncodedRequest): Promise<unknown> {
    const tooLarge = this.oversize(req);
    if (tooLarge !== null) throw new ClusterHttpError(413, 'payload_too_large', tooLarge);
    if (this.pending >= MAX_PENDING_SUBMITS) {
      throw new ClusterHttpError(503, 'overloaded', `${this.pending} commands are already waiting for an outcome on this node; retry shortly`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    this.pending++;
    try {
      return await this.submitWithRetries(req);
    } finally {
      this.pending--;
    }
  }

  private async submitWithRetries(req: EncodedRequest): Promise<unknown> {
    const deadline = Date.now() + this.options.forwardTimeoutMs;
    let delay = 10;
    let last: unknown = null;
    for (;;) {
      try {
        if (this.cluster.isLeader) return await this.proposeHere(req, deadline);
        const url = this.cluster.leaderPeerUrl();
        if (url !== null) return await this.forward(url, this.cluster.leaderId!, req, deadline);
        last = noLeaderError();
      } catch (err) {
        if (!isRetryable(err)) throw err;
        last = err;
      }
      if (Date.now() + delay >= deadline) break;
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
    if (last instanceof RetryableForwardError || last instanceof ProposalLostError) {
      throw new ClusterHttpError(503, 'unavailable', `no outcome within ${this.options.forwardTimeoutMs} ms (${(last as Error).message}); retry with the same Idempotency-Key to learn it`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    if (last instanceof NotLeaderError || last instanceof RaftError) throw noLeaderError();
    throw last;
  }

  /**
   * The seed of an entry's ids: unique per proposal (a random prefix drawn once per process, then a
   * counter), which is all `newId()` needs; a fresh random draw per proposal cost 3% of the leader's CPU.
   */
  private nextSeed(): string {
    return `${SEED_PREFIX}${(this.seedCounter++).toString(36)}`;
  }

  /** On the leader: stamp, propose and wait for the local apply. */
  private proposeHere(req: EncodedRequest, deadline: number): Promise<unknown> {
    // A name this leader does not know never reaches the log (followers would skip it anyway).
    const unknown = unknownName(req);
    if (unknown !== null) return Promise.reject(new ClusterHttpError(400, unknown.error, unknown.message));
    const now = Date.now();
    const bytes = stampRequest(req, now, this.nextSeed());
    return new Promise((resolve, reject) => {
      const waiter: WaitingCommand = { deadline, waitedMs: Math.max(1, deadline - now), reject };
      this.waitingHere.add(waiter);
      this.sweepDeadlinesSoon();
      this.cluster.propose(bytes).then(
        (outcome) => {
          if (this.waitingHere.delete(waiter)) resolve(outcome.result);
        },
        (err: unknown) => {
          if (this.waitingHere.delete(waiter)) reject(err as Error);
        },
      );
    });
  }

  /**
   * One timer for all the commands waiting here, not one each (a timer per command was a measurable part
   * of the leader's CPU): every {@link DEADLINE_SWEEP_MS} while any wait, the overdue ones are given up.
   */
  private sweepDeadlinesSoon(): void {
    if (this.deadlineSweep !== null) return;
    this.deadlineSweep = setTimeout(() => {
      this.deadlineSweep = null;
      const now = Date.now();
      for (const w of this.waitingHere) {
        if (w.deadline > now) continue;
        this.waitingHere.delete(w);
        w.reject(new RetryableForwardError(`not committed within ${w.waitedMs} ms`));
      }
      if (this.waitingHere.size > 0) this.sweepDeadlinesSoon();
    }, DEADLINE_SWEEP_MS);
    this.deadlineSweep.unref();
  }

  /**
   * A leader that steps down may never learn the fate of its pending entries (a deposed leader on the
   * minority side hears nothing). Its waiting commands retry at once with the same request id at the new
   * leader, which answers from the session table if the entry did commit.
   */
  private onLeadershipLost(): void {
    const err = new RetryableForwardError('this node stopped leading before the outcome was known');
    const waiting = [...this.waitingHere];
    this.waitingHere.clear();
    for (const w of waiting) w.reject(err);
  }

  /**
   * Queues a command for the leader. Everything queued in one event-loop turn for the same leader leaves
   * in one signed `POST /raft/command` (`{ items: [...] }`): one HTTP exchange per batch instead of per
   * command on both ends, which halved the follower path's cost. Each command still settles on its own.
   */
  private forward(peerUrl: string, leaderId: string, req: EncodedRequest, deadline: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let batch = this.forwardBatches.get(peerUrl);
      if (batch === undefined || batch.leaderId !== leaderId) {
        batch = { leaderId, items: [] };
        this.forwardBatches.set(peerUrl, batch);
        const scheduled = batch;
        setImmediate(() => {
          if (this.forwardBatches.get(peerUrl) === scheduled) this.forwardBatches.delete(peerUrl);
          this.sendForwardBatch(peerUrl, scheduled);
        });
      }
      batch.items.push({ req, deadline, resolve, reject });
      if (batch.items.length >= MAX_FORWARD_BATCH) this.forwardBatches.delete(peerUrl);
    });
  }

  private sendForwardBatch(peerUrl: string, batch: ForwardBatch): void {
    const { leaderId, items } = batch;
    const body = Buffer.from(`{"items":[${items.map((i) => i.req.json).join(',')}]}`);
    const url = new URL(PEER_COMMAND_PATH, peerUrl);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': body.length,
      'x-raft-from': encodeURIComponent(this.options.memberId),
      ...signPeerRequest(this.options.secret, 'POST', PEER_COMMAND_PATH, body, Date.now()),
    };
    this.metrics.forwardedRequests.inc(items.length);
    const remaining = Math.max(1, Math.max(...items.map((i) => i.deadline)) - Date.now());
    const failAll = (err: Error): void => {
      for (const item of items) item.reject(err);
    };
    const req = http.request(url, { method: 'POST', headers, agent: this.agent, timeout: remaining }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => failAll(new RetryableForwardError('the leader closed the connection')));
      res.on('end', () => {
        let parsed: { answers?: { status: number; body: ForwardAnswer }[] } & Partial<ForwardFailure>;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
        } catch {
          return failAll(new RetryableForwardError(`the leader answered ${res.statusCode} without JSON`));
        }
        const retryAfter = res.headers['retry-after'];
        if (!Array.isArray(parsed.answers) || parsed.answers.length !== items.length) {
          // The whole request was refused (401, 413, 503 while starting...).
          const f = parsed as ForwardFailure;
          if (f.retry === true || res.statusCode === 503) return failAll(new RetryableForwardError(`${f.error ?? res.statusCode}: ${f.message ?? ''}`));
          return failAll(new ClusterHttpError(res.statusCode ?? 500, f.error ?? 'forward_failed', f.message ?? `the leader answered ${res.statusCode}`, {}, typeof retryAfter === 'string' ? { 'Retry-After': retryAfter } : {}));
        }
        parsed.answers.forEach((a, i) => settleForwarded(a, items[i]));
      });
    });
    // A new leader means this one may never answer (it is deposed, maybe partitioned away): ask the new one.
    const inFlight = { leaderId, abandon: (): void => void req.destroy(new Error(`leadership moved away from ${leaderId}`)) };
    this.forwardsInFlight.add(inFlight);
    req.on('close', () => this.forwardsInFlight.delete(inFlight));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => failAll(new RetryableForwardError(`forwarding to the leader failed: ${e.code ?? e.message}`)));
    req.end(body);
  }

  private onLeaderChanged(leaderId: string | null): void {
    if (leaderId === null) return;
    for (const f of this.forwardsInFlight) if (f.leaderId !== leaderId) f.abandon();
  }

  /** `POST /raft/command` on this node: a follower forwarding a client's command (already authenticated). */
  /**
   * `POST /raft/command` on this node (already authenticated): a follower forwarding clients' commands,
   * `{ items: [...] }`. Each item is checked and proposed on its own; the answer lists their outcomes in
   * order once all are known.
   */
  async receiveForwarded(body: Buffer): Promise<ForwardedCommandsAnswer> {
    if (this.machine === null) return { status: 404, body: { error: 'not_found', message: 'this node has no CQRS bridge' } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, body: { error: 'bad_request', message: 'body is not JSON' } };
    }
    const items = (parsed as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) return this.handleForwardedItem(parsed);
    if (items.length === 0 || items.length > MAX_FORWARD_BATCH) {
      return { status: 400, body: { error: 'bad_request', message: `field "items" must hold 1-${MAX_FORWARD_BATCH} commands` } };
    }
    const answers = await Promise.all(items.map((item) => this.handleForwardedItem(item)));
    return { status: 200, body: { answers } };
  }

  private async handleForwardedItem(item: unknown): Promise<{ status: number; body: ForwardAnswer }> {
    let req: EncodedRequest;
    try {
      req = encodeUnstamped(checkUnstamped(item));
    } catch (err) {
      return { status: 400, body: { error: 'bad_request', message: err instanceof EnvelopeError ? err.message : 'malformed command' } };
    }
    const tooLarge = this.oversize(req);
    if (tooLarge !== null) return { status: 413, body: { error: 'payload_too_large', message: tooLarge } };
    const unknown = unknownName(req);
    if (unknown !== null) return { status: 400, body: { error: unknown.error, message: unknown.message } };
    if (!this.cluster.isLeader) {
      // Never forwarded twice: the sender asks the leader it knows of again.
      return { status: 503, body: { error: 'not_leader', message: 'this node is not the leader', retry: true, leaderId: this.cluster.leaderId } };
    }
    if (this.pending >= MAX_PENDING_SUBMITS) {
      return { status: 503, body: { error: 'overloaded', message: `the leader has ${this.pending} commands waiting for an outcome; retry shortly` } };
    }
    this.pending++;
    try {
      const result = await this.proposeHere(req, Date.now() + this.options.forwardTimeoutMs);
      return { status: 200, body: { ok: true, result } };
    } catch (err) {
      if (isRetryable(err)) return { status: 503, body: { error: 'not_leader', message: (err as Error).message, retry: true } };
      if (err instanceof ClusterHttpError) return { status: err.status, body: { error: err.code, message: err.message } };
      if (isClusterError(err)) return { status: 503, body: { error: 'unavailable', message: (err as Error).message } };
      return { status: 200, body: { ok: false, error: serializeError(err) } };
    } finally {
      this.pending--;
    }
  }

  // ---------------------------------------------------------------- buses

  private patchCommandBus(bus: CommandBus): void {
    const original = bus.execute.bind(bus) as (command: object, context?: unknown) => Promise<unknown>;
    this.executeHandlerFn = (command) => original(command);
    (bus as { execute: unknown }).execute = (command: object, context?: unknown): Promise<unknown> => {
      const name = command !== null && typeof command === 'object' ? replicatedCommandName(command) : undefined;
      if (name === undefined) return original(command, context);
      if (isApplying()) return this.dispatchFromApply(name, command);
      return this.executeReplicated(name, command);
    };
  }

  /**
   * A replicated command dispatched while an entry is applied (by a handler or a saga reacting to an
   * apply event) runs on every node: only the leader proposes it, with a request id derived from the
   * entry, so that it enters the log once. It is not awaited (the apply would wait for itself).
   */
  private dispatchFromApply(name: string, command: object): Promise<unknown> {
    const ctx = currentApplyContext()!;
    if (!this.cluster.isLeader) return Promise.resolve(undefined);
    const r = `apply:${ctx.index}:${ctx.position}:${ctx.newId()}`;
    // Never throws into the apply: only the leader gets here, and a failure on one node only would diverge.
    Promise.resolve()
      .then(() => this.submit(encodeCommandRequest(name, encodePayload(this.codec, 'command', name, command), r)))
      .catch((err: unknown) => {
        this.logger.warn(`command ${name} dispatched while applying entry ${ctx.index} failed: ${(err as Error).message}`);
      });
    return Promise.resolve(undefined);
  }

  private patchQueryBus(bus: QueryBus): void {
    const original = bus.execute.bind(bus) as (query: object, ...rest: unknown[]) => Promise<unknown>;
    (bus as { execute: unknown }).execute = async (query: object, ...rest: unknown[]): Promise<unknown> => {
      if (this.consistencyOf(query) === 'linearizable') await this.cluster.readBarrier();
      return original(query, ...rest);
    };
  }

  private consistencyOf(query: object): ReadConsistency {
    const asked = currentRequestContext()?.consistency;
    if (asked != null) return asked;
    const byClass = query !== null && typeof query === 'object' ? (Reflect.getMetadata(QUERY_CONSISTENCY, query.constructor) as ReadConsistency | undefined) : undefined;
    return byClass ?? 'local';
  }

  private patchEventBus(bus: EventBus): void {
    const publish = bus.publish.bind(bus) as (event: object, ...rest: unknown[]) => unknown;
    const publishAll = bus.publishAll.bind(bus) as (events: object[], ...rest: unknown[]) => unknown;
    this.publishLocalFn = (event) => void publish(event);
    const broadcast = (name: string, event: object): void => {
      this.submit(encodeEventRequest(name, encodePayload(this.codec, 'event', name, event))).catch((err: unknown) => {
        this.logger.warn(`broadcast event ${name} was not published: ${(err as Error).message}`);
      });
    };
    (bus as { publish: unknown }).publish = (event: object, ...rest: unknown[]): unknown => {
      const name = event !== null && typeof event === 'object' && !isApplying() ? replicatedEventName(event) : undefined;
      if (name === undefined) return publish(event, ...rest);
      broadcast(name, event);
      return undefined;
    };
    (bus as { publishAll: unknown }).publishAll = (events: object[], ...rest: unknown[]): unknown => {
      if (isApplying() || !Array.isArray(events)) return publishAll(events, ...rest);
      const local: object[] = [];
      for (const e of events) {
        const name = e !== null && typeof e === 'object' ? replicatedEventName(e) : undefined;
        if (name === undefined) local.push(e);
        else broadcast(name, e);
      }
      return local.length > 0 ? publishAll(local, ...rest) : [];
    };
    // Sagas run on every node (they watch events that fire everywhere); their commands leave from the leader only.
    const sagaCommands = { execute: (command: object): Promise<unknown> => (this.cluster.isLeader ? this.commandBus!.execute(command as never) : Promise.resolve(undefined)) };
    (bus as unknown as { commandBus: unknown }).commandBus = sagaCommands;
    // CqrsModule registers the handlers in its bootstrap hook, after this module's (global modules go first):
    // log replay waits for the last registration step.
    const registerSagas = bus.registerSagas.bind(bus);
    bus.registerSagas = (wrappers) => {
      registerSagas(wrappers);
      this.markHandlersRegistered();
    };
  }

  private applyHost(): ConstructorParameters<typeof CqrsStateMachine>[0] {
    return {
      executeHandler: (command) => this.executeHandlerFn!(command),
      publishLocal: (event) => this.publishLocalFn!(event),
      handlersReady: () => this.handlersRegistered,
      isLeader: () => this.cluster.isLeader,
      proposeDigest: (index, digest, parts) => {
        this.cluster.propose(encodeEnvelope({ v: 1, k: 'digest', i: index, d: digest, s: parts })).catch(() => undefined);
      },
      onDivergence: (report) => {
        this.divergence = { ...report, at: new Date().toISOString() };
        this.metrics.digestMismatches.inc();
        const which = report.stores.length > 0 ? `store(s) ${report.stores.join(', ')} differ` : 'the state differs';
        this.logger.error(
          `REPLICA DIVERGED after entry ${report.index}: ${which} from the leader's (digest ${report.localDigest.slice(0, 16)} here, ${report.leaderDigest.slice(0, 16)} there). ` +
            'Either a handler that writes them is not deterministic (clock, random numbers, I/O, iteration over unordered state), or they were written outside apply ' +
            "(a command that changes them without @Replicated('...') runs on one node only). This node answers /health/ready 503 until its data is rebuilt from the leader (stop it, empty its data folder, start it).",
        );
      },
      warn: (message) => this.logger.warn(message),
    };
  }

  private discoverStores(): Map<string, ReplicatedStateStore> {
    const stores = new Map<string, ReplicatedStateStore>();
    for (const wrapper of this.discovery.getProviders()) {
      const { metatype, instance } = wrapper;
      if (typeof metatype !== 'function' || instance === null || instance === undefined) continue;
      const name = Reflect.getMetadata(REPLICATED_STATE, metatype) as string | undefined;
      if (name === undefined) continue;
      const store = instance as ReplicatedStateStore;
      if (typeof store.snapshot !== 'function' || typeof store.restore !== 'function') {
        throw new Error(`@ReplicatedState('${name}') on ${metatype.name}: the class must implement snapshot() and restore(state)`);
      }
      const existing = stores.get(name);
      if (existing !== undefined && existing !== store) throw new Error(`@ReplicatedState('${name}') is used by two providers; names must be unique`);
      stores.set(name, store);
    }
    return stores;
  }
}

