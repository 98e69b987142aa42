import { HttpException, Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { CHAT_OPTIONS, ChatOptions } from '../chat.options';
import { MessageLog } from '../domain/message-log';
import { SseCloseReason, SseSink, SseSubscriber } from './sse-subscriber';

const BATCH_MESSAGES = 256;

/**
 * The event streams of this node. The log notifies during apply; the hub only marks the streams
 * due and writes on the next turn of the event loop, so apply never waits for sockets and a burst of
 * entries leaves in few writes.
 */
@Injectable()
export class MessageStreamHub implements OnModuleDestroy {
  private readonly subscribers = new Set<SseSubscriber>();
  private readonly subscription: Subscription;
  private pumpScheduled = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    private readonly log: MessageLog,
    @Inject(CHAT_OPTIONS) private readonly options: ChatOptions,
  ) {
    this.subscription = log.changes$.subscribe(() => this.schedulePump());
  }

  get clientCount(): number {
    return this.subscribers.size;
  }

  /**
   * Starts a stream of the messages after `startAfter` on `sink`; 503 when this node serves too many
   * (thrown before `beforeStart`, so that the refusal can still be an HTTP status).
   */
  open(sink: SseSink, startAfter: number, beforeStart: () => void = () => undefined): SseSubscriber {
    if (this.closing) throw new HttpException({ error: 'stopping', message: 'this node is shutting down; reconnect to another node' }, 503);
    if (this.subscribers.size >= this.options.maxStreamClients) {
      throw new HttpException({ error: 'overloaded', message: `this node already serves ${this.options.maxStreamClients} streams; retry later or use another node` }, 503);
    }
    const subscriber = new SseSubscriber(sink, this.log, startAfter, { bufferBytes: this.options.streamBufferBytes, batchMessages: BATCH_MESSAGES }, (s, reason) =>
      this.onClosed(s, reason),
    );
    beforeStart();
    this.subscribers.add(subscriber);
    this.ensureHeartbeat();
    subscriber.start();
    return subscriber;
  }

  /** Ends every stream, so that the HTTP server can close. */
  onModuleDestroy(): void {
    this.closing = true;
    this.subscription.unsubscribe();
    for (const s of [...this.subscribers]) s.close('shutdown');
    this.stopHeartbeat();
  }

  private onClosed(s: SseSubscriber, _reason: SseCloseReason): void {
    this.subscribers.delete(s);
    if (this.subscribers.size === 0) this.stopHeartbeat();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.subscribers.size === 0) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      for (const s of [...this.subscribers]) s.pump();
    });
  }

  private ensureHeartbeat(): void {
    if (this.heartbeatTimer !== null) return;
    this.heartbeatTimer = setInterval(() => {
      for (const s of [...this.subscribers]) s.heartbeat();
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer === null) return;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
}
