/**
 * Raft peer transport over HTTP/1.1 (node:http; the global fetch is several times slower on loopback),
 * sending side.
 *
 * Per peer ({@link PeerSender}): one bounded queue and ONE long-lived `POST /raft/stream`
 * ({@link OutgoingStream}) carrying MAC'd frames, at most one frame write in flight. Everything queued
 * while a write is in flight leaves in the next frame, as one batch (up to `maxBatchBytes`): under load
 * this is what batches appends and heartbeats. A broken stream marks the peer unreachable and is
 * reopened with back-off.
 */
import { Message } from '../core/types';
import { BATCH_OVERHEAD, estimateEncodedSize } from './codec';
import { describeError, TransportLogger } from './logging';
import { PeerSender, PeerSenderSettings, PeerStatus } from './peer-sender';

export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_QUEUE_MESSAGES = 10_000;

export interface HttpTransportOptions {
  selfId: string;
  /** Cluster secret; `null` = insecure mode (requests are not signed). */
  secret: string | null;
  /** Bounds each frame write. Keep it below the election timeout. */
  requestTimeoutMs: number;
  /** Largest frame payload (estimated upper bound); a single bigger message still goes alone. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Queue limit per peer, in messages; beyond it the oldest are dropped. Default 10,000. */
  maxQueueMessages?: number;
  /** Queue limit per peer, in (estimated) bytes; beyond it the oldest are dropped. Default 4 x maxBatchBytes. */
  maxQueueBytes?: number;
  /** First delay before trying a peer again after a failure; doubles up to `maxRetryDelayMs`. Default 10. */
  retryDelayMs?: number;
  /** Default 200 ms. */
  maxRetryDelayMs?: number;
  logger?: TransportLogger;
  /** Called on each change of a peer's reachability (including the first success or failure). */
  onPeerStatus?: (peerId: string, reachable: boolean) => void;
}

export class HttpTransport {
  private readonly peers = new Map<string, PeerSender>();
  private closed = false;
  private readonly settings: PeerSenderSettings;

  constructor(private readonly opts: HttpTransportOptions) {
    if (typeof opts.selfId !== 'string' || opts.selfId === '') throw new TypeError('HttpTransport: selfId must be a non-empty string');
    if (opts.secret !== null && (typeof opts.secret !== 'string' || opts.secret === '')) {
      throw new TypeError('HttpTransport: secret must be a non-empty string, or null for insecure mode');
    }
    if (!(opts.requestTimeoutMs > 0)) throw new TypeError('HttpTransport: requestTimeoutMs must be a positive number');
    const maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!(maxBatchBytes > BATCH_OVERHEAD)) throw new TypeError(`HttpTransport: maxBatchBytes must be more than ${BATCH_OVERHEAD}`);
    const maxQueueMessages = opts.maxQueueMessages ?? DEFAULT_MAX_QUEUE_MESSAGES;
    if (!(maxQueueMessages >= 1)) throw new TypeError('HttpTransport: maxQueueMessages must be at least 1');
    const retryDelayMs = opts.retryDelayMs ?? 10;
    this.settings = {
      secret: opts.secret,
      fromHeader: encodeURIComponent(opts.selfId),
      requestTimeoutMs: opts.requestTimeoutMs,
      maxBatchBytes,
      maxQueueMessages,
      maxQueueBytes: opts.maxQueueBytes ?? maxBatchBytes * 4,
      retryDelayMs,
      maxRetryDelayMs: Math.max(retryDelayMs, opts.maxRetryDelayMs ?? 200),
      logger: opts.logger,
      onPeerStatus: opts.onPeerStatus,
    };
  }

  /**
   * The peers to talk to: id -> base URL (`http://host:port`, optionally with a path prefix). Replaces
   * the previous set: removed peers lose their queue and stream; a peer whose URL changed keeps its
   * queue but gets a new connection. The own id is ignored. A bad URL is logged and skipped.
   */
  setPeers(addresses: Record<string, string>): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    for (const [id, url] of Object.entries(addresses)) {
      if (id === this.opts.selfId) continue;
      wanted.add(id);
      const existing = this.peers.get(id);
      if (existing && existing.url === url) continue;
      const peer = PeerSender.create(id, url, this.settings);
      if (existing) {
        existing.stop(false);
        peer?.takeOver(existing);
      }
      if (peer) {
        this.peers.set(id, peer);
        peer.schedule();
      } else {
        this.peers.delete(id);
      }
    }
    for (const [id, peer] of this.peers) {
      if (!wanted.has(id)) {
        peer.stop(true);
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
        peer.enqueue(m, size);
      }
    } catch (e) {
      this.opts.logger?.warn(`raft transport: send failed: ${describeError(e)}`);
    }
  }

  peerStatus(): Record<string, PeerStatus> {
    const out: Record<string, PeerStatus> = {};
    for (const [id, p] of this.peers) out[id] = p.status();
    return out;
  }

  /** Ends the streams, drops the queues and closes the connections. Later sends are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) peer.stop(true);
    this.peers.clear();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
