import * as http from 'node:http';
import { checkTimestamp, DEFAULT_AUTH_WINDOW_MS, DEFAULT_REPLAY_CACHE_SIZE, ReplayCache, VerifyResult, verifyPeerRequest } from './auth';
import { sendJsonError } from './error-reply';
import { TransportLogger } from './logging';

const UNAUTHORIZED = 'peer request not authenticated';

/** The receiving side's use of ./auth: one replay cache and one clock for all of a handler's requests. */
export class PeerRequestAuthenticator {
  private readonly replayCache: ReplayCache;
  private readonly windowMs: number;
  private readonly now: () => number;

  /** `secret: null` = insecure mode: every request passes. */
  constructor(
    private readonly secret: string | null,
    opts: { windowMs?: number; replayCacheSize?: number; now?: () => number },
    private readonly logger?: TransportLogger,
  ) {
    this.windowMs = opts.windowMs ?? DEFAULT_AUTH_WINDOW_MS;
    this.now = opts.now ?? Date.now;
    this.replayCache = new ReplayCache(opts.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE);
  }

  /** The cheap checks, to refuse unsigned or stale requests before reading their bodies. */
  precheck(req: http.IncomingMessage): VerifyResult {
    if (this.secret === null) return { ok: true };
    return checkTimestamp(req.headers, this.now(), this.windowMs);
  }

  verify(req: http.IncomingMessage, url: string, body: Uint8Array): VerifyResult {
    if (this.secret === null) return { ok: true };
    return verifyPeerRequest(this.secret, 'POST', url, req.headers, body, this.now(), { windowMs: this.windowMs, replayCache: this.replayCache });
  }

  /** 401, the same answer whatever failed: the reason goes to the debug log only. */
  refuse(req: http.IncomingMessage, res: http.ServerResponse, reason: string): void {
    this.logger?.debug?.(`raft peer request from ${req.socket.remoteAddress ?? '?'} rejected: ${reason}`);
    sendJsonError(res, 401, 'unauthorized', UNAUTHORIZED);
  }
}
