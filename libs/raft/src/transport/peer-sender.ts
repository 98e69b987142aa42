import * as http from 'node:http';
import * as https from 'node:https';
import { Message } from '../core/types';
import { encodeMessages } from './codec';
import { describeError, TransportLogger } from './logging';
import { MessageQueue } from './message-queue';
import { OutgoingStream, StreamTarget } from './outgoing-stream';
import { PEER_STREAM_PATH } from './peer-endpoints';

export interface PeerStatus {
  reachable: boolean;
  lastSuccessMs: number | null;
  /** Messages waiting in the queue. */
  queued: number;
  /** Messages dropped so far: queue overflow plus failed batches. */
  dropped: number;
  /** Streams opened so far (successful or not). */
  requests: number;
  /** Frames written so far. */
  frames: number;
}

/** What every peer of one transport shares (see HttpTransportOptions for the meanings). */
export interface PeerSenderSettings {
  readonly secret: string | null;
  /** The transport's own id, as the sender header carries it. */
  readonly fromHeader: string;
  readonly requestTimeoutMs: number;
  readonly maxBatchBytes: number;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly logger?: TransportLogger;
  readonly onPeerStatus?: (peerId: string, reachable: boolean) => void;
}

/**
 * The sending side of one peer: its bounded queue, its stream, its back-off and its reachability.
 * A failed batch (connection error, timeout, the stream closed by the receiver) is dropped: Raft resends
 * what matters on its own.
 */
export class PeerSender {
  private queue = new MessageQueue();
  private dropped = 0;
  private stream: OutgoingStream | null = null;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private state: 'unknown' | 'reachable' | 'unreachable' = 'unknown';
  private lastSuccessMs: number | null = null;
  private requests = 0;
  private frames = 0;
  private stopped = false;

  private constructor(
    readonly id: string,
    readonly url: string,
    private readonly target: StreamTarget,
    private readonly settings: PeerSenderSettings,
  ) {
    this.backoffMs = settings.retryDelayMs;
  }

  /** A sender for the peer at base URL `url` (`http://host:port`, optionally with a path prefix); null, logged, when the URL is unusable. */
  static create(id: string, url: string, settings: PeerSenderSettings): PeerSender | null {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      settings.logger?.warn(`raft transport: peer ${id} has an invalid URL ${JSON.stringify(url)}; ignored`);
      return null;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      settings.logger?.warn(`raft transport: peer ${id} URL ${JSON.stringify(url)} is not http(s); ignored`);
      return null;
    }
    const secure = u.protocol === 'https:';
    // Each stream gets its own connection (never a kept-alive socket the server may have closed).
    const agentOpts: http.AgentOptions = { keepAlive: false };
    const target: StreamTarget = {
      request: secure ? https.request : http.request,
      agent: secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts),
      hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : secure ? 443 : 80,
      path: u.pathname.replace(/\/+$/, '') + PEER_STREAM_PATH,
    };
    return new PeerSender(id, url, target, settings);
  }

  /** Takes over the queue and the drop count of the sender this one replaces (the peer's URL changed). */
  takeOver(previous: PeerSender): void {
    this.queue = previous.queue;
    this.dropped = previous.dropped;
  }

  /** Queues one message of (estimated) `size` bytes; beyond the queue limits the oldest are dropped. */
  enqueue(m: Message, size: number): void {
    this.queue.push(m, size);
    this.dropped += this.queue.dropOldestBeyond(this.settings.maxQueueMessages, this.settings.maxQueueBytes);
    this.schedule();
  }

  status(): PeerStatus {
    return { reachable: this.state === 'reachable', lastSuccessMs: this.lastSuccessMs, queued: this.queue.length, dropped: this.dropped, requests: this.requests, frames: this.frames };
  }

  /** Ends the stream and every retry for good. With `dropQueue` false the queue stays, for {@link takeOver}. */
  stop(dropQueue: boolean): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const stream = this.stream;
    this.stream = null;
    stream?.close();
    this.target.agent.destroy();
    if (dropQueue) this.queue.clear();
  }

  schedule(): void {
    if (this.stream?.busy || this.flushScheduled || this.retryTimer || this.stopped || this.queue.length === 0) return;
    // Wait for the end of this event-loop turn: everything sent meanwhile leaves in one frame.
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.stopped || this.retryTimer || this.queue.length === 0) return;
    const stream = this.stream ?? this.openStream();
    if (!stream || stream.busy) return;
    const next = this.nextEncodedBatch();
    if (next === null) return;
    this.frames++;
    stream.write(next.body, next.count);
  }

  /** The next batch of the queue, encoded; a batch that cannot be encoded is dropped (and logged). Null when the queue is empty. */
  private nextEncodedBatch(): { body: Buffer; count: number } | null {
    while (this.queue.length > 0) {
      const batch = this.queue.takeBatch(this.settings.maxBatchBytes);
      try {
        return { body: encodeMessages(batch), count: batch.length };
      } catch (e) {
        this.dropped += batch.length;
        this.settings.logger?.warn(`raft transport: batch of ${batch.length} for ${this.id} dropped, cannot encode: ${describeError(e)}`);
      }
    }
    return null;
  }

  private openStream(): OutgoingStream | null {
    let stream: OutgoingStream;
    try {
      stream = new OutgoingStream(this.target, this.settings.secret, this.settings.fromHeader, this.settings.requestTimeoutMs, {
        accepted: () => {
          if (this.stream !== stream) return;
          this.backoffMs = this.settings.retryDelayMs;
          this.lastSuccessMs = Date.now();
          this.setState('reachable', '');
        },
        written: () => {
          this.lastSuccessMs = Date.now();
          // Whatever was queued while the socket was busy leaves now as one frame (at the end of this turn).
          this.schedule();
        },
        failed: (reason, unsent) => {
          if (this.stream !== stream) return; // stopped or replaced meanwhile
          this.stream = null;
          if (this.stopped) return;
          this.dropped += unsent;
          this.failed(reason);
        },
      });
    } catch (e) {
      this.failed(describeError(e));
      return null;
    }
    this.stream = stream;
    this.requests++;
    return stream;
  }

  private failed(reason: string): void {
    this.settings.logger?.debug?.(`raft transport: request to ${this.id} failed: ${reason}`);
    this.setState('unreachable', reason);
    // Back off before the next attempt so that a dead peer does not get a tight loop of connects.
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.settings.maxRetryDelayMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, delay);
  }

  private setState(state: 'reachable' | 'unreachable', reason: string): void {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    const { logger } = this.settings;
    if (state === 'unreachable') {
      logger?.warn(`raft transport: peer ${this.id} (${this.url}) unreachable: ${reason}`);
    } else if (previous === 'unreachable') {
      logger?.warn(`raft transport: peer ${this.id} (${this.url}) reachable again`);
    } else {
      logger?.debug?.(`raft transport: peer ${this.id} (${this.url}) reachable`);
    }
    try {
      this.settings.onPeerStatus?.(this.id, state === 'reachable');
    } catch (e) {
      logger?.warn(`raft transport: onPeerStatus threw: ${describeError(e)}`);
    }
  }
}
