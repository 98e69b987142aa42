import { HttpException } from '@nestjs/common';
import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import type { ProposalResult } from './raft-cluster.metrics';

/**
 * An error with its HTTP answer: status, `{ error, message }` body (plus `extra` fields) and headers.
 * The cluster endpoints answer every failure this way.
 */
export class ClusterHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ClusterHttpError';
  }

  body(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.extra };
  }
}

/** Seconds a client should wait before retrying when no leader is known (an election is a few hundred ms). */
export const RETRY_AFTER_SECONDS = '1';

export function noLeaderError(message = 'no leader is known right now (an election is probably running); retry shortly'): ClusterHttpError {
  return new ClusterHttpError(503, 'no_leader', message, { leaderId: null, leaderUrl: null }, { 'Retry-After': RETRY_AFTER_SECONDS });
}

/**
 * The one HTTP answer for "this node does not lead": 503 `not_leader` with `Retry-After` and where the
 * leader is (a retry, here or there, succeeds once leadership settles), or `no_leader` when none is
 * known. Only a `@LeaderOnly({ mode: 'reject' })` route asks for 409, its documented contract.
 */
export function notLeaderError(leaderId: string | null, leaderUrl: string | null, message?: string, status: 503 | 409 = 503): ClusterHttpError {
  if (leaderId === null) return noLeaderError(message);
  const text = message ?? `this node is not the leader; the leader is ${leaderId}`;
  return new ClusterHttpError(status, 'not_leader', text, { leaderId, leaderUrl }, status === 503 ? { 'Retry-After': RETRY_AFTER_SECONDS } : {});
}

/**
 * The leader of the moment could not give an outcome (unreachable, or it stopped leading first): the
 * same request, with the same request id, is tried again at whoever leads next.
 */
export class LeaderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderUnavailableError';
  }
}

/** Errors that mean "leadership moved or is moving": not an outcome; a retry with the same request id is safe. */
export function isLeaderChange(err: unknown): boolean {
  if (err instanceof NotLeaderError || err instanceof ProposalLostError || err instanceof LeaderUnavailableError) return true;
  return err instanceof RaftError && err.code === 'transfer_in_progress';
}

/** How a proposal ended, for the `raft_proposals_total` metric. */
export function proposalOutcome(err: unknown): ProposalResult {
  if (err instanceof NotLeaderError) return 'not_leader';
  if (err instanceof RaftError) return 'dropped';
  if (err instanceof ProposalLostError) return 'lost';
  if (err instanceof NodeStoppedError) return 'stopped';
  return 'error';
}

/** Whether an error is the cluster's rather than a command handler's: such errors are never an outcome of apply. */
export function isClusterError(err: unknown): boolean {
  return err instanceof NotLeaderError || err instanceof ProposalLostError || err instanceof RaftError || err instanceof NodeStoppedError || err instanceof ClusterHttpError || err instanceof LeaderUnavailableError;
}

export function badRequest(field: string, message: string): ClusterHttpError {
  return new ClusterHttpError(400, 'bad_request', message, { field });
}

/**
 * Express's body parser fails a request before any route runs (body over the limit, malformed JSON,
 * unsupported charset); its errors carry `type` and a 4xx `status`. They are the client's fault.
 */
function asBodyParserError(err: unknown): ClusterHttpError | null {
  if (err === null || typeof err !== 'object' || err instanceof HttpException) return null;
  const { type, status } = err as { type?: unknown; status?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (type === 'entity.too.large') {
    const limit = (err as { limit?: unknown }).limit;
    return new ClusterHttpError(413, 'payload_too_large', `request body over the limit${typeof limit === 'number' ? ` of ${limit} bytes` : ''}`);
  }
  if (type === 'entity.parse.failed') return new ClusterHttpError(400, 'bad_request', 'request body is not valid JSON', { field: 'body' });
  return new ClusterHttpError(status, 'bad_request', err instanceof Error ? err.message : 'bad request body');
}

/**
 * Maps the runtime's and the core's errors to HTTP answers:
 * `NotLeaderError` -> {@link notLeaderError}; a leader that could not give an outcome, transfer in progress, too many pending entries, stopped node, lost proposal
 * -> 503 + Retry-After; a configuration change still pending -> 409 + Retry-After; an invalid
 * configuration change -> 409.
 */
export function toClusterHttpError(err: unknown, leaderUrl: (id: string) => string | null = () => null): ClusterHttpError {
  if (err instanceof ClusterHttpError) return err;
  if (err instanceof NotLeaderError) return notLeaderError(err.leaderId, err.leaderId === null ? null : leaderUrl(err.leaderId));
  if (err instanceof LeaderUnavailableError) {
    return new ClusterHttpError(503, 'unavailable', `${err.message}; retry with the same Idempotency-Key to learn the outcome`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
  }
  if (err instanceof RaftError) {
    switch (err.code) {
      case 'transfer_in_progress':
        return new ClusterHttpError(503, 'transfer_in_progress', err.message, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
      case 'proposal_dropped':
        return new ClusterHttpError(503, 'overloaded', err.message, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
      case 'conf_change_pending':
        return new ClusterHttpError(409, 'conf_change_pending', err.message, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
      case 'bad_conf_change':
        return new ClusterHttpError(409, 'bad_conf_change', err.message);
    }
  }
  if (err instanceof NodeStoppedError) {
    return new ClusterHttpError(503, 'stopped', err.message, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
  }
  if (err instanceof ProposalLostError) {
    return new ClusterHttpError(503, 'proposal_lost', err.message, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
  }
  const bodyParserError = asBodyParserError(err);
  if (bodyParserError !== null) return bodyParserError;
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const res = err.getResponse();
    let message = err.message;
    if (typeof res === 'object' && res !== null) {
      const m = (res as { message?: unknown }).message;
      if (typeof m === 'string') message = m;
      else if (Array.isArray(m)) message = m.join('; ');
    }
    let code = status === 404 ? 'not_found' : status === 409 ? 'conflict' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status < 500 ? 'bad_request' : 'internal_error';
    let extra: Record<string, unknown> = {};
    // An app's `new ConflictException({ error: 'out_of_stock', message, ... })` keeps its code and fields.
    if (typeof res === 'object' && res !== null) {
      const { error, message: _m, statusCode: _s, ...rest } = res as Record<string, unknown>;
      if (typeof error === 'string' && /^[a-z][a-z0-9_]*$/.test(error)) {
        code = error;
        extra = rest;
      }
    }
    // A 503 always tells the client when to come back (SPEC: overload and no leader carry Retry-After).
    return new ClusterHttpError(status, code, message, extra, status === 503 ? { 'Retry-After': RETRY_AFTER_SECONDS } : {});
  }
  return new ClusterHttpError(500, 'internal_error', err instanceof Error ? err.message : String(err));
}
