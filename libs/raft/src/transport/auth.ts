/**
 * Peer authentication with the cluster secret.
 *
 * Every peer request carries three headers:
 *   x-raft-timestamp  sender's clock, integer milliseconds since the epoch
 *   x-raft-nonce      16 random bytes, base64url (so two identical requests in the same millisecond differ)
 *   x-raft-signature  hex HMAC-SHA256(secret, "raft-v1\n" METHOD "\n" path "\n" timestamp "\n" nonce "\n" hex(sha256(body)))
 *
 * The receiver recomputes the HMAC and compares with `crypto.timingSafeEqual`, rejects timestamps more
 * than `windowMs` away from its own clock (either direction), and rejects a signature it has already
 * accepted within the window (replay). The replay memory is bounded ({@link ReplayCache}): entries leave
 * once their timestamp is outside the window, and when it is full the oldest entry is forgotten first.
 * A replay of a forgotten entry is the only replay that can get through; for Raft that is harmless
 * (the protocol tolerates duplicated and delayed messages) and it keeps memory bounded.
 *
 * Insecure mode: a `null` secret means no signing (no headers) and no verification (every request
 * passes). Whether that is allowed is the caller's decision (the sample apps require an explicit
 * `INSECURE_PEERS=1`). The secret is never included in any error, reason or log line.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const HEADER_TIMESTAMP = 'x-raft-timestamp';
export const HEADER_NONCE = 'x-raft-nonce';
export const HEADER_SIGNATURE = 'x-raft-signature';

export const DEFAULT_AUTH_WINDOW_MS = 30_000;
export const DEFAULT_REPLAY_CACHE_SIZE = 100_000;

const TIMESTAMP_RE = /^\d{1,16}$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;

function canonical(method: string, path: string, timestamp: string, nonce: string, body: Uint8Array): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return `raft-v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodyHash}`;
}

function hmac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

function assertSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('peer secret must be a non-empty string (or null for insecure mode)');
}

/**
 * Headers that prove knowledge of `secret` for this exact request. `path` is the request target as the
 * server will see it (`req.url`, including any query string). With a `null` secret: no headers.
 */
export function signPeerRequest(
  secret: string | null,
  method: string,
  path: string,
  body: Uint8Array,
  nowMs: number,
  nonce: string = randomBytes(16).toString('base64url'),
): Record<string, string> {
  if (secret === null) return {};
  assertSecret(secret);
  const timestamp = String(Math.floor(nowMs));
  const signature = hmac(secret, canonical(method, path, timestamp, nonce, body)).toString('hex');
  return { [HEADER_TIMESTAMP]: timestamp, [HEADER_NONCE]: nonce, [HEADER_SIGNATURE]: signature };
}

/**
 * Bounded memory of accepted signatures: a FIFO of (key, expiry) plus a set for lookups. Entries are
 * dropped once expired (checked from the oldest end on every insert) or, when full, oldest first.
 */
export class ReplayCache {
  private readonly seen = new Set<string>();
  private keys: string[] = [];
  private expiries: number[] = [];
  private head = 0;

  constructor(readonly maxEntries: number = DEFAULT_REPLAY_CACHE_SIZE) {
    if (!(maxEntries >= 1)) throw new RangeError('ReplayCache maxEntries must be at least 1');
  }

  get size(): number {
    return this.seen.size;
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Records `key` until `expiresAtMs`; false when it is already there (a replay). */
  add(key: string, expiresAtMs: number, nowMs: number): boolean {
    this.evict(nowMs);
    if (this.seen.has(key)) return false;
    while (this.seen.size >= this.maxEntries) this.dropOldest();
    this.seen.add(key);
    this.keys.push(key);
    this.expiries.push(expiresAtMs);
    return true;
  }

  private evict(nowMs: number): void {
    // The FIFO is in arrival order; expiries are nearly sorted (timestamps lie within the window).
    // An entry that expires before an older one simply stays until that one goes: bounded anyway.
    while (this.head < this.keys.length && this.expiries[this.head] <= nowMs) this.dropOldest();
  }

  private dropOldest(): void {
    if (this.head >= this.keys.length) return;
    this.seen.delete(this.keys[this.head]);
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.expiries = this.expiries.slice(this.head);
      this.head = 0;
    }
  }
}

const defaultReplayCache = new ReplayCache();

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export interface VerifyOptions {
  /** Accepted clock difference, either direction. Default 30 s. */
  windowMs?: number;
  /** Where accepted signatures are remembered; default: one cache shared by the process. */
  replayCache?: ReplayCache;
}

type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Checks the headers made by {@link signPeerRequest}. `headers` uses lower-case names (as
 * `IncomingMessage.headers` does). The `reason` is meant for a debug log, not for the peer.
 * With a `null` secret every request passes (insecure mode).
 */
export function verifyPeerRequest(
  secret: string | null,
  method: string,
  path: string,
  headers: HeaderBag,
  body: Uint8Array,
  nowMs: number,
  { windowMs = DEFAULT_AUTH_WINDOW_MS, replayCache = defaultReplayCache }: VerifyOptions = {},
): VerifyResult {
  if (secret === null) return { ok: true };
  assertSecret(secret);
  const pre = checkTimestamp(headers, nowMs, windowMs);
  if (!pre.ok) return pre;
  const timestamp = header(headers, HEADER_TIMESTAMP)!;
  const nonce = header(headers, HEADER_NONCE);
  if (nonce === undefined) return { ok: false, reason: 'missing nonce' };
  if (!NONCE_RE.test(nonce)) return { ok: false, reason: 'malformed nonce' };
  const signature = header(headers, HEADER_SIGNATURE);
  if (signature === undefined) return { ok: false, reason: 'missing signature' };
  // Format check first, so timingSafeEqual always compares two 32-byte buffers (it throws on a length mismatch).
  if (!SIGNATURE_RE.test(signature)) return { ok: false, reason: 'malformed signature' };
  const given = Buffer.from(signature, 'hex');
  const expected = hmac(secret, canonical(method, path, timestamp, nonce, body));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  // 128 bits of the signature identify the request well enough and halve the cache's memory.
  // Remembered while the timestamp check alone would still accept it (it accepts ts == now - windowMs).
  if (!replayCache.add(signature.slice(0, 32), Number(timestamp) + windowMs + 1, nowMs)) return { ok: false, reason: 'replayed request' };
  return { ok: true };
}

/**
 * The cheap part of {@link verifyPeerRequest} (header presence and timestamp window), usable before
 * reading a request body to refuse obviously unauthenticated requests early.
 */
export function checkTimestamp(headers: HeaderBag, nowMs: number, windowMs: number = DEFAULT_AUTH_WINDOW_MS): VerifyResult {
  const timestamp = header(headers, HEADER_TIMESTAMP);
  if (timestamp === undefined) return { ok: false, reason: 'missing timestamp' };
  if (!TIMESTAMP_RE.test(timestamp)) return { ok: false, reason: 'malformed timestamp' };
  const ts = Number(timestamp);
  if (ts < nowMs - windowMs) return { ok: false, reason: `timestamp ${nowMs - ts} ms in the past (window ${windowMs} ms)` };
  if (ts > nowMs + windowMs) return { ok: false, reason: `timestamp ${ts - nowMs} ms in the future (window ${windowMs} ms)` };
  return { ok: true };
}
