import * as http from 'node:http';
import { NotLeaderError } from '@raft-cqrs/raft';
import { HEADER_FROM, PEER_COMMAND_PATH, signPeerRequest } from '@raft-cqrs/raft/transport';
import { ClusterHttpError, isClusterError, isLeaderChange, LeaderUnavailableError, RETRY_AFTER_SECONDS } from '../raft-cluster.errors';
import type { RaftClusterMetrics } from '../raft-cluster.metrics';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { checkUnstamped, EncodedRequest, encodeUnstamped, EnvelopeError, oversizeReason } from './envelope';
import { deserializeError, SerializedError, serializeError } from './error-codec';
import { unknownName } from './leader-proposals';
import type { PendingCommands } from './pending-commands';
import { HttpAnswer, httpCall } from '../internal/http-client';

/** Commands in one forwarded request, at most. */
const MAX_FORWARD_BATCH = 256;

/** Largest answer to one forwarded batch (256 results). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

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

/** What the receiving side needs of this node: who leads, and the leader's way to propose. */
export interface ForwardedCommandTarget {
  isLeader(): boolean;
  leaderId(): string | null;
  propose(req: EncodedRequest, deadline: number): Promise<unknown>;
  readonly pending: PendingCommands;
}

function failAll(items: ForwardItem[], err: Error): void {
  for (const item of items) item.reject(err);
}

/** Settles each command of a batch with its answer, or all of them when the whole request was refused. */
function settleBatch(answer: HttpAnswer, items: ForwardItem[]): void {
  let parsed: { answers?: { status: number; body: ForwardAnswer }[] } & Partial<ForwardFailure>;
  try {
    parsed = JSON.parse(answer.body.toString('utf8')) as typeof parsed;
  } catch {
    return failAll(items, new LeaderUnavailableError(`the leader answered ${answer.status} without JSON`));
  }
  if (!Array.isArray(parsed.answers) || parsed.answers.length !== items.length) {
    // The whole request was refused (401, 413, 503 while starting...).
    const f = parsed as ForwardFailure;
    if (f.retry === true || answer.status === 503) return failAll(items, new LeaderUnavailableError(`${f.error ?? answer.status}: ${f.message ?? ''}`));
    const retryAfter = answer.headers['retry-after'];
    return failAll(items, new ClusterHttpError(answer.status, f.error ?? 'forward_failed', f.message ?? `the leader answered ${answer.status}`, {}, typeof retryAfter === 'string' ? { 'Retry-After': retryAfter } : {}));
  }
  parsed.answers.forEach((a, i) => settle(a, items[i]));
}

function settle(a: { status: number; body: ForwardAnswer }, item: ForwardItem): void {
  const answer = a.body;
  if ('ok' in answer && answer.ok) item.resolve(answer.result);
  else if ('ok' in answer) item.reject(deserializeError(answer.error));
  else if (answer.error === 'not_leader') item.reject(new NotLeaderError(answer.leaderId ?? null));
  else if (answer.retry === true) item.reject(new LeaderUnavailableError(`${answer.error}: ${answer.message}`));
  else item.reject(new ClusterHttpError(a.status, answer.error, answer.message, {}, a.status === 503 ? { 'Retry-After': RETRY_AFTER_SECONDS } : {}));
}

/**
 * Commands a follower sends to its leader, both ends: everything queued in one event-loop turn for the
 * same leader leaves in one signed `POST /raft/command` (`{ items: [...] }`), one HTTP exchange per batch
 * instead of per command on both ends (it halved the follower path's cost), and the leader checks and
 * proposes each item on its own and answers their outcomes in order.
 */
export class CommandForwarder {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 5000 });
  /** Commands queued for the leader during this event-loop turn, per leader peer URL. */
  private readonly batches = new Map<string, ForwardBatch>();
  /** Requests sent to a leader and not answered yet. */
  private readonly inFlight = new Set<{ leaderId: string; abandon: () => void }>();

  constructor(
    private readonly options: ResolvedRaftClusterOptions,
    private readonly metrics: RaftClusterMetrics,
    private readonly target: ForwardedCommandTarget,
  ) {}

  // ---------------------------------------------------------------- sending (on a follower)

  /** Queues a command for the leader at `peerUrl`; settles with its outcome there. */
  send(peerUrl: string, leaderId: string, req: EncodedRequest, deadline: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let batch = this.batches.get(peerUrl);
      if (batch === undefined || batch.leaderId !== leaderId) {
        batch = { leaderId, items: [] };
        this.batches.set(peerUrl, batch);
        const scheduled = batch;
        setImmediate(() => {
          if (this.batches.get(peerUrl) === scheduled) this.batches.delete(peerUrl);
          this.post(peerUrl, scheduled);
        });
      }
      batch.items.push({ req, deadline, resolve, reject });
      if (batch.items.length >= MAX_FORWARD_BATCH) this.batches.delete(peerUrl);
    });
  }

  /** A new leader means the old one may never answer (deposed, maybe partitioned away): ask the new one. */
  leaderChanged(leaderId: string): void {
    for (const f of this.inFlight) if (f.leaderId !== leaderId) f.abandon();
  }

  close(): void {
    this.agent.destroy();
  }

  private post(peerUrl: string, batch: ForwardBatch): void {
    const { leaderId, items } = batch;
    const body = Buffer.from(`{"items":[${items.map((i) => i.req.json).join(',')}]}`);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': body.length,
      [HEADER_FROM]: encodeURIComponent(this.options.memberId),
      ...signPeerRequest(this.options.secret, 'POST', PEER_COMMAND_PATH, body, Date.now()),
    };
    this.metrics.forwardedRequests.inc(items.length);
    const remaining = Math.max(1, Math.max(...items.map((i) => i.deadline)) - Date.now());
    // A new leader means this one may never answer (it is deposed, maybe partitioned away): ask the new one.
    const abort = new AbortController();
    const inFlight = { leaderId, abandon: (): void => abort.abort(`leadership moved away from ${leaderId}`) };
    this.inFlight.add(inFlight);
    httpCall(peerUrl, { method: 'POST', path: PEER_COMMAND_PATH, rawBody: body, headers, timeoutMs: remaining, agent: this.agent, signal: abort.signal, maxAnswerBytes: MAX_ANSWER_BYTES })
      .then(
        (answer) => settleBatch(answer, items),
        (err: unknown) => failAll(items, new LeaderUnavailableError(`forwarding to the leader failed: ${(err as Error).message}`)),
      )
      .finally(() => this.inFlight.delete(inFlight));
  }

  // ---------------------------------------------------------------- receiving (on the leader)

  /**
   * `POST /raft/command` on this node (already authenticated): `{ items: [...] }` from a follower. Each
   * item is checked and proposed on its own; the answer lists their outcomes in order once all are known.
   */
  async receive(body: Buffer): Promise<{ status: number; body: unknown }> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, body: { error: 'bad_request', message: 'body is not JSON' } };
    }
    const items = (parsed as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) return this.receiveItem(parsed);
    if (items.length === 0 || items.length > MAX_FORWARD_BATCH) {
      return { status: 400, body: { error: 'bad_request', message: `field "items" must hold 1-${MAX_FORWARD_BATCH} commands` } };
    }
    const answers = await Promise.all(items.map((item) => this.receiveItem(item)));
    return { status: 200, body: { answers } };
  }

  private async receiveItem(item: unknown): Promise<{ status: number; body: ForwardAnswer }> {
    let req: EncodedRequest;
    try {
      req = encodeUnstamped(checkUnstamped(item));
    } catch (err) {
      return { status: 400, body: { error: 'bad_request', message: err instanceof EnvelopeError ? err.message : 'malformed command' } };
    }
    const tooLarge = oversizeReason(req, this.options.maxCommandBytes);
    if (tooLarge !== null) return { status: 413, body: { error: 'payload_too_large', message: tooLarge } };
    const unknown = unknownName(req);
    if (unknown !== null) return { status: 400, body: { error: unknown.error, message: unknown.message } };
    // Never forwarded twice: the sender asks the leader it knows of again.
    if (!this.target.isLeader()) return { status: 503, body: { error: 'not_leader', message: 'this node is not the leader', leaderId: this.target.leaderId() } };
    try {
      const result = await this.target.pending.run(() => this.target.propose(req, Date.now() + this.options.forwardTimeoutMs));
      return { status: 200, body: { ok: true, result } };
    } catch (err) {
      if (err instanceof NotLeaderError) return { status: 503, body: { error: 'not_leader', message: err.message, leaderId: err.leaderId } };
      if (isLeaderChange(err)) return { status: 503, body: { error: 'unavailable', message: (err as Error).message, retry: true } };
      if (err instanceof ClusterHttpError) return { status: err.status, body: { error: err.code, message: err.message } };
      if (isClusterError(err)) return { status: 503, body: { error: 'unavailable', message: (err as Error).message } };
      return { status: 200, body: { ok: false, error: serializeError(err) } };
    }
  }
}
