/**
 * Raft peer transport over HTTP/1.1 (node:http with keep-alive agents; the global fetch is several
 * times slower on loopback).
 *
 * Sending side ({@link HttpTransport}): one bounded queue and one keep-alive agent per peer, at most one
 * request in flight per peer. Everything queued while a request is in flight leaves in the next request,
 * as one batch (up to `maxBatchBytes`): under load this is what batches appends and heartbeats. A failed
 * batch (connection error, timeout, non-2xx) is dropped: Raft resends what matters on its own.
 *
 * Two sending modes (option `mode`):
 * - `'stream'` (default): per peer, ONE long-lived chunked request `POST /raft/stream` whose headers are
 *   signed like any peer request (empty body digest). Each batch is one frame, written with one
 *   `req.write` (one syscall): `[u32 BE payload length][payload = encodeMessages(batch)][16-byte MAC]`,
 *   MAC = first 16 bytes of HMAC-SHA256(secret, streamNonce || u64 BE frame sequence || payload), the
 *   sequence starting at 0. So frames cannot be altered, replayed or reordered within a stream, and a
 *   stream cannot be replayed (the signed headers go through the replay cache). The receiver accepts the
 *   stream with an interim `102 Processing` (the sender then reports the peer reachable), never answers
 *   finally until the stream ends (204), and closes it (400/413/500) on the first bad frame, delivering
 *   nothing from that frame on. A broken stream marks the peer unreachable and is reopened with backoff.
 *   One write in flight per peer: what is queued meanwhile leaves as the next frame.
 *   Insecure mode (`secret: null`): no header signature, and the MAC field is 16 zero bytes, not checked.
 * - `'request'`: one `POST /raft/messages` per batch, at most one in flight per peer (the older mode).
 *
 * Receiving side ({@link createPeerRequestHandler}): a plain `(req, res) => boolean` handler for
 * `POST /raft/messages` and `POST /raft/stream`, to be put in front of the app's own router with
 * {@link mountPeerHandler}, so peer traffic skips the framework's middleware. Node's
 * `server.requestTimeout` (300 s by default) would kill a long-lived stream and cannot be lifted per
 * request, so {@link mountPeerHandler} sets it to 0 (restored on unmount); `headersTimeout` still applies.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Message } from '../core/types';
import { checkTimestamp, DEFAULT_AUTH_WINDOW_MS, HEADER_NONCE, DEFAULT_REPLAY_CACHE_SIZE, ReplayCache, signPeerRequest, verifyPeerRequest } from './auth';
import { BATCH_OVERHEAD, CodecError, decodeMessages, encodeMessages, estimateEncodedSize } from './codec';

export const PEER_MESSAGES_PATH = '/raft/messages';
export const PEER_STREAM_PATH = '/raft/stream';
/** Frame layout: u32 length + payload + MAC. */
export const FRAME_HEADER_BYTES = 4;
export const FRAME_MAC_BYTES = 16;
/** Header naming the sender (URI-encoded node id). Checked against the (authenticated) messages' `from`. */
export const HEADER_FROM = 'x-raft-from';
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_QUEUE_MESSAGES = 10_000;

export interface TransportLogger {
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface HttpTransportOptions {
  selfId: string;
  /** Cluster secret; `null` = insecure mode (requests are not signed). */
  secret: string | null;
  /** Per request, from sending to the end of the response. Keep it below the election timeout. */
  requestTimeoutMs: number;
  /** Largest request body (estimated upper bound); a single bigger message still goes alone. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Queue limit per peer, in messages; beyond it the oldest are dropped. Default 10,000. */
  maxQueueMessages?: number;
  /** Queue limit per peer, in (estimated) bytes; beyond it the oldest are dropped. Default 4 x maxBatchBytes. */
  maxQueueBytes?: number;
  /** First delay before trying a peer again after a failed request; doubles up to `maxRetryDelayMs`. Default 10. */
  retryDelayMs?: number;
  /** Default 200 ms. */
  maxRetryDelayMs?: number;
  logger?: TransportLogger;
  /** Called on each change of a peer's reachability (including the first success or failure). */
  onPeerStatus?: (peerId: string, reachable: boolean) => void;
  /**
   * `'stream'` (default): one long-lived `POST /raft/stream` per peer carrying MAC'd frames (needs a
   * receiver that knows `/raft/stream`). `'request'`: one `POST /raft/messages` per batch.
   * In stream mode `requestTimeoutMs` bounds each frame write.
   */
  mode?: 'stream' | 'request';
}

export interface PeerStatus {
  reachable: boolean;
  lastSuccessMs: number | null;
  /** Messages waiting in the queue. */
  queued: number;
  /** Messages dropped so far: queue overflow plus failed batches. */
  dropped: number;
  /** Requests sent so far (successful or not); in stream mode, streams opened. */
  requests: number;
  /** Stream mode: frames written so far. */
  frames: number;
}

/** MAC of one stream frame (see the module comment); 16 zero bytes in insecure mode. */
export function frameMac(secret: string | null, streamNonce: string, seq: number, payload: Uint8Array): Buffer {
  if (secret === null) return Buffer.alloc(FRAME_MAC_BYTES);
  const seqBuf = Buffer.allocUnsafe(8);
  seqBuf.writeBigUInt64BE(BigInt(seq));
  return createHmac('sha256', secret).update(streamNonce, 'utf8').update(seqBuf).update(payload).digest().subarray(0, FRAME_MAC_BYTES);
}

/** One complete frame (header + payload + MAC) in a single buffer, ready for one write. */
export function encodeFrame(secret: string | null, streamNonce: string, seq: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length + FRAME_MAC_BYTES);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.set(frameMac(secret, streamNonce, seq, payload), FRAME_HEADER_BYTES + payload.length);
  return frame;
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Incremental parser of a frame stream: `push` chunks as they arrive (frames may be split anywhere or
 * several per chunk); it returns the payloads of the frames completed by that chunk, each checked (MAC
 * over nonce, expected sequence and payload; payload limit). It throws a {@link FrameError} on the
 * first bad frame and refuses everything after it.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private total = 0;
  private seq = 0;
  private failed = false;

  constructor(
    private readonly secret: string | null,
    private readonly streamNonce: string,
    private readonly maxPayloadBytes: number,
  ) {}

  /** Frames accepted so far. */
  get frames(): number {
    return this.seq;
  }

  /** Bytes of an incomplete frame waiting for more data. */
  get pending(): number {
    return this.total;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw new FrameError('stream already rejected', 400);
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.total += chunk.length;
    const out: Buffer[] = [];
    try {
      while (this.total >= FRAME_HEADER_BYTES) {
        const head = this.chunks[0].length >= FRAME_HEADER_BYTES ? this.chunks[0] : this.join();
        const len = head.readUInt32BE(0);
        if (len > this.maxPayloadBytes) throw new FrameError(`frame of ${len} bytes over the limit of ${this.maxPayloadBytes}`, 413);
        const need = FRAME_HEADER_BYTES + len + FRAME_MAC_BYTES;
        if (this.total < need) break;
        const buf = this.chunks[0].length >= need ? this.chunks[0] : this.join();
        const payload = buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len);
        if (this.secret !== null) {
          const given = buf.subarray(FRAME_HEADER_BYTES + len, need);
          const expected = frameMac(this.secret, this.streamNonce, this.seq, payload);
          if (!timingSafeEqualBuf(given, expected)) throw new FrameError(`frame ${this.seq}: MAC mismatch (altered, replayed or out of order)`, 400);
        }
        this.seq++;
        out.push(payload);
        if (buf.length === need) {
          this.chunks.shift();
        } else {
          this.chunks[0] = buf.subarray(need);
        }
        this.total -= need;
      }
    } catch (e) {
      this.failed = true;
      this.chunks = [];
      this.total = 0;
      throw e;
    }
    return out;
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.total);
    this.chunks = [all];
    return all;
  }
}

function timingSafeEqualBuf(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

class MessageQueue {
  private items: Message[] = [];
  private sizes: number[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: Message, size: number): void {
    this.items.push(m);
    this.sizes.push(size);
    this.bytes += size;
  }

  peekSize(): number {
    return this.sizes[this.head];
  }

  shift(): Message {
    const m = this.items[this.head];
    this.bytes -= this.sizes[this.head];
    this.items[this.head] = undefined as unknown as Message; // let it be collected
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  clear(): void {
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
  }
}

interface Peer {
  readonly id: string;
  readonly url: string;
  readonly request: typeof http.request;
  readonly hostname: string;
  readonly port: number;
  readonly path: string;
  readonly streamPath: string;
  readonly agent: http.Agent;
  queue: MessageQueue;
  inFlight: http.ClientRequest | null;
  stream: PeerStream | null;
  flushScheduled: boolean;
  retryTimer: NodeJS.Timeout | null;
  backoffMs: number;
  state: 'unknown' | 'reachable' | 'unreachable';
  lastSuccessMs: number | null;
  dropped: number;
  requests: number;
  frames: number;
  removed: boolean;
}

interface PeerStream {
  readonly req: http.ClientRequest;
  readonly nonce: string;
  seq: number;
  /** A frame write not yet handed to the kernel: what is queued meanwhile waits for the next frame. */
  writing: boolean;
  /** Messages in the frame being written (counted as dropped if the stream breaks before it is done). */
  writingCount: number;
  writeTimer: NodeJS.Timeout | null;
  closed: boolean;
}

const EMPTY = Buffer.alloc(0);

function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown };
    if (typeof e.code === 'string') return e.code;
    if (typeof e.message === 'string') return e.message;
  }
  return String(err);
}

export class HttpTransport {
  private readonly peers = new Map<string, Peer>();
  private closed = false;
  private readonly maxBatchBytes: number;
  private readonly maxQueueMessages: number;
  private readonly maxQueueBytes: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly selfIdHeader: string;
  private readonly mode: 'stream' | 'request';

  constructor(private readonly opts: HttpTransportOptions) {
    if (typeof opts.selfId !== 'string' || opts.selfId === '') throw new TypeError('HttpTransport: selfId must be a non-empty string');
    if (opts.secret !== null && (typeof opts.secret !== 'string' || opts.secret === '')) {
      throw new TypeError('HttpTransport: secret must be a non-empty string, or null for insecure mode');
    }
    if (!(opts.requestTimeoutMs > 0)) throw new TypeError('HttpTransport: requestTimeoutMs must be a positive number');
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!(this.maxBatchBytes > BATCH_OVERHEAD)) throw new TypeError(`HttpTransport: maxBatchBytes must be more than ${BATCH_OVERHEAD}`);
    this.maxQueueMessages = opts.maxQueueMessages ?? DEFAULT_MAX_QUEUE_MESSAGES;
    this.maxQueueBytes = opts.maxQueueBytes ?? this.maxBatchBytes * 4;
    if (!(this.maxQueueMessages >= 1)) throw new TypeError('HttpTransport: maxQueueMessages must be at least 1');
    this.retryDelayMs = opts.retryDelayMs ?? 10;
    this.maxRetryDelayMs = Math.max(this.retryDelayMs, opts.maxRetryDelayMs ?? 200);
    this.selfIdHeader = encodeURIComponent(opts.selfId);
    this.mode = opts.mode ?? 'stream';
    if (this.mode !== 'stream' && this.mode !== 'request') throw new TypeError(`HttpTransport: mode must be 'stream' or 'request'`);
  }

  /**
   * The peers to talk to: id -> base URL (`http://host:port`, optionally with a path prefix). Replaces
   * the previous set: removed peers lose their queue and in-flight request; a peer whose URL changed
   * keeps its queue but gets a new connection. The own id is ignored. A bad URL is logged and skipped.
   */
  setPeers(addresses: Record<string, string>): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    for (const [id, url] of Object.entries(addresses)) {
      if (id === this.opts.selfId) continue;
      wanted.add(id);
      const existing = this.peers.get(id);
      if (existing && existing.url === url) continue;
      const peer = this.createPeer(id, url);
      if (existing) {
        this.teardown(existing);
        if (peer) {
          peer.queue = existing.queue;
          peer.dropped = existing.dropped;
        }
      }
      if (peer) {
        this.peers.set(id, peer);
        this.schedule(peer);
      } else {
        this.peers.delete(id);
      }
    }
    for (const [id, peer] of this.peers) {
      if (!wanted.has(id)) {
        this.teardown(peer);
        peer.queue.clear();
        this.peers.delete(id);
      }
    }
  }

  /** Queues messages for their `to` peers and returns at once. Never throws; unknown peers are skipped. */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    try {
      for (const m of messages) {
        const peer = m && typeof m.to === 'string' ? this.peers.get(m.to) : undefined;
        if (!peer) {
          this.opts.logger?.debug?.(`raft transport: no address for ${String(m?.to)}, ${String(m?.type)} dropped`);
          continue;
        }
        let size: number;
        try {
          size = estimateEncodedSize(m);
        } catch (e) {
          this.opts.logger?.warn(`raft transport: unsendable message to ${peer.id} dropped: ${describeError(e)}`);
          continue;
        }
        const q = peer.queue;
        q.push(m, size);
        while (q.length > this.maxQueueMessages || (q.bytes > this.maxQueueBytes && q.length > 1)) {
          q.shift();
          peer.dropped++;
        }
        this.schedule(peer);
      }
    } catch (e) {
      this.opts.logger?.warn(`raft transport: send failed: ${describeError(e)}`);
    }
  }

  peerStatus(): Record<string, PeerStatus> {
    const out: Record<string, PeerStatus> = {};
    for (const [id, p] of this.peers) {
      out[id] = { reachable: p.state === 'reachable', lastSuccessMs: p.lastSuccessMs, queued: p.queue.length, dropped: p.dropped, requests: p.requests, frames: p.frames };
    }
    return out;
  }

  /** Aborts in-flight requests, drops the queues and closes the connections. Later sends are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) {
      this.teardown(peer);
      peer.queue.clear();
    }
    this.peers.clear();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  // ---------------------------------------------------------------- internals

  private createPeer(id: string, url: string): Peer | null {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      this.opts.logger?.warn(`raft transport: peer ${id} has an invalid URL ${JSON.stringify(url)}; ignored`);
      return null;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      this.opts.logger?.warn(`raft transport: peer ${id} URL ${JSON.stringify(url)} is not http(s); ignored`);
      return null;
    }
    const secure = u.protocol === 'https:';
    // Stream mode: each stream gets its own connection (never a kept-alive socket the server may have closed).
    const agentOpts: http.AgentOptions = this.mode === 'stream' ? { keepAlive: false } : { keepAlive: true, maxSockets: 1, maxFreeSockets: 1 };
    const prefix = u.pathname.replace(/\/+$/, '');
    return {
      id,
      url,
      request: secure ? https.request : http.request,
      hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : secure ? 443 : 80,
      path: prefix + PEER_MESSAGES_PATH,
      streamPath: prefix + PEER_STREAM_PATH,
      agent: secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts),
      queue: new MessageQueue(),
      inFlight: null,
      stream: null,
      flushScheduled: false,
      retryTimer: null,
      backoffMs: this.retryDelayMs,
      state: 'unknown',
      lastSuccessMs: null,
      dropped: 0,
      requests: 0,
      frames: 0,
      removed: false,
    };
  }

  private teardown(peer: Peer): void {
    peer.removed = true;
    if (peer.retryTimer) clearTimeout(peer.retryTimer);
    peer.retryTimer = null;
    const req = peer.inFlight;
    peer.inFlight = null;
    req?.destroy();
    const stream = peer.stream;
    peer.stream = null;
    if (stream) this.closeStream(stream);
    peer.agent.destroy();
  }

  private schedule(peer: Peer): void {
    if (peer.inFlight || peer.stream?.writing || peer.flushScheduled || peer.retryTimer || peer.removed || peer.queue.length === 0) return;
    // Wait for the end of this event-loop turn: everything sent meanwhile leaves in one request.
    peer.flushScheduled = true;
    setImmediate(() => {
      peer.flushScheduled = false;
      this.flush(peer);
    });
  }

  /** Takes the next batch off the queue (at least one message, at most maxBatchBytes unless one is bigger). */
  private nextBatch(peer: Peer): Message[] {
    const q = peer.queue;
    const batch: Message[] = [];
    let bytes = BATCH_OVERHEAD;
    while (q.length > 0 && (batch.length === 0 || bytes + q.peekSize() <= this.maxBatchBytes)) {
      bytes += q.peekSize();
      batch.push(q.shift());
    }
    return batch;
  }

  private flush(peer: Peer): void {
    if (this.mode === 'stream') {
      this.flushStream(peer);
      return;
    }
    while (!this.closed && !peer.removed && !peer.inFlight && !peer.retryTimer) {
      const next = this.nextEncodedBatch(peer);
      if (next === null) return;
      this.post(peer, next.body, next.count, false);
    }
  }

  /** The next batch of `peer`'s queue, encoded; a batch that cannot be encoded is dropped (and logged). Null when the queue is empty. */
  private nextEncodedBatch(peer: Peer): { body: Buffer; count: number } | null {
    while (peer.queue.length > 0) {
      const batch = this.nextBatch(peer);
      try {
        return { body: encodeMessages(batch), count: batch.length };
      } catch (e) {
        peer.dropped += batch.length;
        this.opts.logger?.warn(`raft transport: batch of ${batch.length} for ${peer.id} dropped, cannot encode: ${describeError(e)}`);
      }
    }
    return null;
  }

  private post(peer: Peer, body: Buffer, count: number, isRetry: boolean): void {
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      [HEADER_FROM]: this.selfIdHeader,
      ...signPeerRequest(this.opts.secret, 'POST', peer.path, body, Date.now()),
    };
    let req: http.ClientRequest;
    try {
      req = peer.request({ agent: peer.agent, hostname: peer.hostname, port: peer.port, path: peer.path, method: 'POST', headers });
    } catch (e) {
      peer.dropped += count;
      this.failed(peer, describeError(e));
      return;
    }
    peer.inFlight = req;
    peer.requests++;
    let done = false;
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs);
    const finish = (error: string | null, retryable = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (peer.inFlight !== req) return; // removed or replaced meanwhile
      peer.inFlight = null;
      if (this.closed || peer.removed) return;
      if (error === null) {
        peer.lastSuccessMs = Date.now();
        peer.backoffMs = this.retryDelayMs;
        this.setState(peer, 'reachable', '');
        this.flush(peer);
      } else if (retryable) {
        // A kept-alive socket the server had just closed: try once more on a fresh connection.
        this.post(peer, body, count, true);
      } else {
        peer.dropped += count;
        this.failed(peer, error);
      }
    };
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        res.on('error', (e) => finish(describeError(e)));
        res.on('end', () => finish(null));
        res.resume();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 300) text += chunk;
      });
      res.on('error', (e) => finish(describeError(e)));
      res.on('end', () => {
        let detail = text.slice(0, 200);
        try {
          const j = JSON.parse(text) as { error?: unknown };
          if (typeof j.error === 'string') detail = j.error;
        } catch {
          /* not JSON: keep the text */
        }
        finish(`HTTP ${status}${detail ? ` ${detail}` : ''}${status === 401 ? ' (check the cluster secret)' : ''}`);
      });
    });
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      finish(describeError(e), !isRetry && req.reusedSocket && code === 'ECONNRESET');
    });
    req.end(body);
  }

  // ---------------------------------------------------------------- stream mode

  private flushStream(peer: Peer): void {
    while (!this.closed && !peer.removed && !peer.retryTimer && peer.queue.length > 0) {
      const stream = peer.stream ?? this.openStream(peer);
      if (!stream || stream.writing) return;
      const next = this.nextEncodedBatch(peer);
      if (next === null) return;
      const frame = encodeFrame(this.opts.secret, stream.nonce, stream.seq++, next.body);
      stream.writing = true;
      stream.writingCount = next.count;
      peer.frames++;
      stream.writeTimer = setTimeout(() => this.streamFailed(peer, stream, `frame write timeout after ${this.opts.requestTimeoutMs} ms`), this.opts.requestTimeoutMs);
      stream.req.write(frame, (err) => {
        if (stream.closed) return;
        if (stream.writeTimer) clearTimeout(stream.writeTimer);
        stream.writeTimer = null;
        if (err) {
          this.streamFailed(peer, stream, describeError(err));
          return;
        }
        stream.writing = false;
        stream.writingCount = 0;
        peer.lastSuccessMs = Date.now();
        // Whatever was queued while the socket was busy leaves now as one frame (at the end of this turn).
        this.schedule(peer);
      });
      return;
    }
  }

  private openStream(peer: Peer): PeerStream | null {
    const nonce = randomBytes(16).toString('base64url');
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      [HEADER_FROM]: this.selfIdHeader,
      ...signPeerRequest(this.opts.secret, 'POST', peer.streamPath, EMPTY, Date.now(), nonce),
    };
    let req: http.ClientRequest;
    try {
      req = peer.request({ agent: peer.agent, hostname: peer.hostname, port: peer.port, path: peer.streamPath, method: 'POST', headers });
    } catch (e) {
      this.failed(peer, describeError(e));
      return null;
    }
    const stream: PeerStream = { req, nonce, seq: 0, writing: false, writingCount: 0, writeTimer: null, closed: false };
    peer.stream = stream;
    peer.requests++;
    req.on('information', (info) => {
      if (info.statusCode !== 102 || stream.closed || peer.stream !== stream) return;
      // The receiver authenticated the stream.
      peer.backoffMs = this.retryDelayMs;
      peer.lastSuccessMs = Date.now();
      this.setState(peer, 'reachable', '');
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 300) text += chunk;
      });
      res.on('error', () => undefined);
      res.on('end', () => {
        let detail = text.slice(0, 200);
        try {
          const j = JSON.parse(text) as { error?: unknown };
          if (typeof j.error === 'string') detail = j.error;
        } catch {
          /* not JSON: keep the text */
        }
        this.streamFailed(peer, stream, `stream ended: HTTP ${status}${detail ? ` ${detail}` : ''}${status === 401 ? ' (check the cluster secret)' : ''}`);
      });
    });
    req.on('error', (e) => this.streamFailed(peer, stream, describeError(e)));
    req.on('close', () => this.streamFailed(peer, stream, 'stream closed'));
    req.flushHeaders();
    return stream;
  }

  private closeStream(stream: PeerStream): void {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.writeTimer) clearTimeout(stream.writeTimer);
    stream.writeTimer = null;
    stream.req.destroy();
  }

  private streamFailed(peer: Peer, stream: PeerStream, reason: string): void {
    if (stream.closed) return;
    const inWrite = stream.writing ? stream.writingCount : 0;
    this.closeStream(stream);
    if (peer.stream !== stream) return; // removed or replaced meanwhile
    peer.stream = null;
    if (this.closed || peer.removed) return;
    peer.dropped += inWrite;
    this.failed(peer, reason);
  }

  private failed(peer: Peer, reason: string): void {
    this.opts.logger?.debug?.(`raft transport: request to ${peer.id} failed: ${reason}`);
    this.setState(peer, 'unreachable', reason);
    // Back off before the next attempt so that a dead peer does not get a tight loop of connects.
    const delay = peer.backoffMs;
    peer.backoffMs = Math.min(peer.backoffMs * 2, this.maxRetryDelayMs);
    peer.retryTimer = setTimeout(() => {
      peer.retryTimer = null;
      this.flush(peer);
    }, delay);
  }

  private setState(peer: Peer, state: 'reachable' | 'unreachable', reason: string): void {
    if (peer.state === state) return;
    const previous = peer.state;
    peer.state = state;
    if (state === 'unreachable') {
      this.opts.logger?.warn(`raft transport: peer ${peer.id} (${peer.url}) unreachable: ${reason}`);
    } else if (previous === 'unreachable') {
      this.opts.logger?.warn(`raft transport: peer ${peer.id} (${peer.url}) reachable again`);
    } else {
      this.opts.logger?.debug?.(`raft transport: peer ${peer.id} (${peer.url}) reachable`);
    }
    try {
      this.opts.onPeerStatus?.(peer.id, state === 'reachable');
    } catch (e) {
      this.opts.logger?.warn(`raft transport: onPeerStatus threw: ${describeError(e)}`);
    }
  }
}

// ------------------------------------------------------------------ receiving side

export interface PeerRequestHandlerOptions {
  /** Cluster secret; `null` = insecure mode (no verification at all). */
  secret: string | null;
  /** Largest accepted body; beyond it `413`. Keep it at or above the senders' `maxBatchBytes`. */
  maxBodyBytes: number;
  /** Called with each authenticated, well-formed batch; `from` is the sender's id from its header. */
  onMessages(msgs: Message[], from: string | undefined): void;
  logger?: TransportLogger;
  /** When set, messages addressed to another node are dropped (for example after an address moved). */
  selfId?: string;
  /** Accepted clock difference between peers. Default 30 s. */
  windowMs?: number;
  /** Remembered signatures (replay protection). Default 100,000. */
  replayCacheSize?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Serves `POST /raft/command` (authenticated like every peer request): a follower forwarding a client's
   * command to the leader. Gets the raw body; its answer is sent as JSON. Without it the path is 404.
   */
  onCommand?: (body: Buffer, from: string | undefined) => Promise<{ status: number; body: unknown }>;
}

/** Where a follower forwards a client's command (see {@link PeerRequestHandlerOptions.onCommand}). */
export const PEER_COMMAND_PATH = '/raft/command';

export type PeerRequestHandler = ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) & {
  /**
   * Ends the open `/raft/stream` requests (their connections are closed), for example before the server
   * closes: `server.close()` waits for active requests, and a stream never ends by itself.
   * {@link mountPeerHandler}'s unmount calls it.
   */
  closeStreams?(): void;
};

function sendJson(res: http.ServerResponse, status: number, error: string, message: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ error, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

const UNAUTHORIZED = 'peer request not authenticated';

/**
 * Handler for the Raft peer endpoints. Returns false, without touching anything, when the path is not
 * under `/raft/`; otherwise answers the request itself:
 * `POST /raft/messages` -> 204 (delivered), 401 (authentication), 413 (too large), 400 (undecodable);
 * other `/raft/` paths 404, other methods 405. A request that fails authentication or decoding never
 * reaches `onMessages`.
 */
export function createPeerRequestHandler(opts: PeerRequestHandlerOptions): PeerRequestHandler {
  const { secret, maxBodyBytes, logger } = opts;
  if (secret !== null && (typeof secret !== 'string' || secret === '')) {
    throw new TypeError('createPeerRequestHandler: secret must be a non-empty string, or null for insecure mode');
  }
  if (!(maxBodyBytes > 0)) throw new TypeError('createPeerRequestHandler: maxBodyBytes must be positive');
  const windowMs = opts.windowMs ?? DEFAULT_AUTH_WINDOW_MS;
  const now = opts.now ?? Date.now;
  const replayCache = new ReplayCache(opts.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE);
  const tooLarge = (res: http.ServerResponse): void =>
    sendJson(res, 413, 'payload_too_large', `peer request body over the limit of ${maxBodyBytes} bytes`);
  const unauthorized = (req: http.IncomingMessage, res: http.ServerResponse, reason: string): void => {
    logger?.debug?.(`raft peer request from ${req.socket.remoteAddress ?? '?'} rejected: ${reason}`);
    sendJson(res, 401, 'unauthorized', UNAUTHORIZED);
  };

  type Rejection = { status: number; error: string; message: string };
  /** The sender named by the header: undefined without one, a Rejection when malformed. */
  const senderOf = (req: http.IncomingMessage): string | undefined | Rejection => {
    const fromHeader = req.headers[HEADER_FROM];
    if (typeof fromHeader !== 'string') return undefined;
    try {
      return decodeURIComponent(fromHeader);
    } catch {
      return { status: 400, error: 'bad_request', message: `malformed ${HEADER_FROM} header` };
    }
  };
  /** Decodes and checks one batch; the messages to deliver, or why not. */
  const checkBatch = (body: Buffer, from: string | undefined): Message[] | Rejection => {
    let msgs: Message[];
    try {
      msgs = decodeMessages(body);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return { status: 400, error: 'bad_request', message: `undecodable peer messages: ${e.message}` };
    }
    if (from !== undefined) {
      for (const m of msgs) {
        if (m.from !== from) return { status: 400, error: 'bad_request', message: `message from ${JSON.stringify(m.from)} in a request from ${JSON.stringify(from)}` };
      }
    }
    if (opts.selfId !== undefined) {
      const mine = msgs.filter((m) => m.to === opts.selfId);
      if (mine.length !== msgs.length) {
        logger?.debug?.(`raft peer request from ${from ?? '?'}: ${msgs.length - mine.length} message(s) for another node dropped`);
        msgs = mine;
      }
    }
    return msgs;
  };

  const handleBody = (req: http.IncomingMessage, res: http.ServerResponse, url: string, body: Buffer): void => {
    if (secret !== null) {
      const v = verifyPeerRequest(secret, 'POST', url, req.headers, body, now(), { windowMs, replayCache });
      if (!v.ok) return unauthorized(req, res, v.reason);
    }
    const from = senderOf(req);
    if (typeof from === 'object') return sendJson(res, from.status, from.error, from.message);
    const checked = checkBatch(body, from);
    if (!Array.isArray(checked)) return sendJson(res, checked.status, checked.error, checked.message);
    const msgs = checked;
    try {
      if (msgs.length > 0) opts.onMessages(msgs, from);
    } catch (e) {
      logger?.warn(`raft peer request: onMessages threw: ${describeError(e)}`);
      return sendJson(res, 500, 'internal_error', 'the node failed to take the messages');
    }
    res.writeHead(204);
    res.end();
  };

  const handleCommand = (req: http.IncomingMessage, res: http.ServerResponse, url: string, body: Buffer): void => {
    if (secret !== null) {
      const v = verifyPeerRequest(secret, 'POST', url, req.headers, body, now(), { windowMs, replayCache });
      if (!v.ok) return unauthorized(req, res, v.reason);
    }
    const from = senderOf(req);
    if (typeof from === 'object') return sendJson(res, from.status, from.error, from.message);
    opts.onCommand!(body, from).then(
      (answer) => {
        if (res.headersSent || res.destroyed) return;
        const json = JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      },
      (e: unknown) => {
        logger?.warn(`raft peer command failed: ${describeError(e)}`);
        sendJson(res, 500, 'internal_error', 'the node failed to take the command');
      },
    );
  };

  /** Closes a stream after a bad frame: the answer, then the connection (the body never ends by itself). */
  const closeStream = (req: http.IncomingMessage, res: http.ServerResponse, r: Rejection, from: string | undefined): void => {
    logger?.warn(`raft peer stream from ${from ?? req.socket.remoteAddress ?? '?'} closed: ${r.message}`);
    req.removeAllListeners('data');
    req.on('data', () => undefined);
    const socket = req.socket;
    if (!res.headersSent) {
      const body = JSON.stringify({ error: r.error, message: r.message });
      res.writeHead(r.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body, () => socket.destroy());
    } else {
      socket.destroy();
    }
  };

  const openStreams = new Set<http.IncomingMessage>();

  const handleStream = (req: http.IncomingMessage, res: http.ServerResponse, url: string): void => {
    let nonce = '';
    if (secret !== null) {
      const v = verifyPeerRequest(secret, 'POST', url, req.headers, EMPTY, now(), { windowMs, replayCache });
      if (!v.ok) {
        res.setHeader('connection', 'close'); // the body would never end: do not wait for it
        unauthorized(req, res, v.reason);
        return;
      }
      nonce = req.headers[HEADER_NONCE] as string;
    }
    const from = senderOf(req);
    if (typeof from === 'object') return sendJson(res, from.status, from.error, from.message);
    // A long-lived request: no idle timeout on its socket (server.requestTimeout: see mountPeerHandler).
    req.setTimeout(0);
    res.setTimeout(0);
    const parser = new FrameParser(secret, nonce, maxBodyBytes);
    let failed = false;
    openStreams.add(req);
    res.on('close', () => openStreams.delete(req));
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      let payloads: Buffer[];
      try {
        payloads = parser.push(chunk);
      } catch (e) {
        failed = true;
        if (!(e instanceof FrameError)) throw e;
        closeStream(req, res, { status: e.status, error: e.status === 413 ? 'payload_too_large' : 'bad_frame', message: e.message }, from);
        return;
      }
      for (const payload of payloads) {
        const checked = checkBatch(payload, from);
        if (!Array.isArray(checked)) {
          failed = true;
          closeStream(req, res, checked, from);
          return;
        }
        try {
          if (checked.length > 0) opts.onMessages(checked, from);
        } catch (e) {
          failed = true;
          logger?.warn(`raft peer stream: onMessages threw: ${describeError(e)}`);
          closeStream(req, res, { status: 500, error: 'internal_error', message: 'the node failed to take the messages' }, from);
          return;
        }
      }
    });
    req.on('end', () => {
      if (failed) return;
      if (parser.pending > 0) {
        failed = true;
        closeStream(req, res, { status: 400, error: 'bad_frame', message: `stream ended inside a frame (${parser.pending} bytes)` }, from);
        return;
      }
      res.writeHead(204);
      res.end();
    });
    req.on('error', () => {
      /* sender went away: frames already delivered stay delivered */
    });
    // Accepted: tell the sender now (an interim answer; the final one comes when the stream ends).
    res.writeProcessing();
  };

  const handler: PeerRequestHandler = (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/raft/')) return false;
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const isCommand = pathname === PEER_COMMAND_PATH && opts.onCommand !== undefined;
    if (pathname !== PEER_MESSAGES_PATH && pathname !== PEER_STREAM_PATH && !isCommand) {
      sendJson(res, 404, 'not_found', `no peer endpoint ${pathname}`);
      return true;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, 'method_not_allowed', `${pathname} accepts POST only`, { allow: 'POST' });
      return true;
    }
    if (pathname === PEER_STREAM_PATH) {
      try {
        handleStream(req, res, url);
      } catch (e) {
        logger?.warn(`raft peer stream failed: ${describeError(e)}`);
        sendJson(res, 500, 'internal_error', 'peer request failed');
      }
      return true;
    }
    if (secret !== null) {
      // Refuse unsigned or stale requests before reading their bodies.
      const pre = checkTimestamp(req.headers, now(), windowMs);
      if (!pre.ok) {
        unauthorized(req, res, pre.reason);
        return true;
      }
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      tooLarge(res); // Node discards the unread body after the response (the connection stays usable)
      return true;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let rejected = false;
    req.on('data', (chunk: Buffer) => {
      if (rejected) return; // discard the rest
      total += chunk.length;
      if (total > maxBodyBytes) {
        rejected = true;
        chunks.length = 0;
        tooLarge(res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (rejected) return;
      try {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
        if (isCommand) handleCommand(req, res, url, body);
        else handleBody(req, res, url, body);
      } catch (e) {
        logger?.warn(`raft peer request failed: ${describeError(e)}`);
        sendJson(res, 500, 'internal_error', 'peer request failed');
      }
    });
    req.on('error', () => {
      /* client went away: nothing was delivered */
    });
    return true;
  };
  handler.closeStreams = () => {
    for (const req of openStreams) req.socket.destroy();
    openStreams.clear();
  };
  return handler;
}

/**
 * Puts `handler` in front of the server's existing 'request' listeners (for example the Express app a
 * Nest application installed): the handler sees every request first, and requests it declines (returns
 * false) go to the previous listeners, in order. Call it after the framework has attached its listener.
 * Returns a function that restores the previous listeners.
 */
export function mountPeerHandler(server: http.Server, handler: PeerRequestHandler): () => void {
  // Node kills any request still receiving its body after server.requestTimeout (300 s by default, checked
  // every connectionsCheckingInterval) and req/res.setTimeout(0) do not lift it: the long-lived
  // /raft/stream requests need it off. headersTimeout (slow headers) and socket timeouts still apply.
  const previousRequestTimeout = server.requestTimeout;
  server.requestTimeout = 0;
  const previous = server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.removeAllListeners('request');
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let handled: boolean;
    try {
      handled = handler(req, res);
    } catch (_e) {
      handled = true;
      sendJson(res, 500, 'internal_error', 'peer request failed');
    }
    if (handled) return;
    for (const l of previous) l.call(server, req, res);
  };
  server.on('request', listener);
  return () => {
    if (server.requestTimeout === 0) server.requestTimeout = previousRequestTimeout;
    handler.closeStreams?.();
    server.removeListener('request', listener);
    for (const l of previous) server.on('request', l);
  };
}
