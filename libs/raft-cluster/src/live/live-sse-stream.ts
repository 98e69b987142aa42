import type { Subscription } from 'rxjs';
import type { LiveQueryEmission } from './shared-query';

/** The part of node's response a stream writes to. */
export interface LiveSseSink {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): unknown;
}

/** One `data:` event: `id` is the applied index the value reflects. JSON.stringify escapes newlines: one data line. */
export function formatLiveEvent(e: Pick<LiveQueryEmission, 'index' | 'json'>): string {
  return `id: ${e.index}\ndata: ${e.json}\n\n`;
}

/** The event that ends a stream whose query failed after its first value (a 404 once the order is gone, say). */
export function formatErrorEvent(status: number, body: unknown): string {
  return `event: query-error\ndata: ${JSON.stringify({ status, ...(typeof body === 'object' && body !== null ? body : { message: String(body) }) })}\n\n`;
}

/**
 * One client's live query stream. It never queues: while the socket is backed up (the last write
 * returned false, no 'drain' yet) only the newest value waits, replacing any older one, so a slow
 * client costs one socket buffer and at most one pending value, and still ends at the latest state.
 */
export class LiveSseStream {
  private waitingForDrain = false;
  private pending: string | null = null;
  private subscription: Subscription | null = null;
  private ended = false;
  /** Values given to the stream (for tests and diagnostics). */
  values = 0;
  /** Values replaced by a newer one before the socket could take them. */
  skipped = 0;

  constructor(
    private readonly sink: LiveSseSink,
    private readonly onEnd: (s: LiveSseStream) => void,
  ) {}

  /** The values waiting for the socket to drain: 0 or 1. */
  get buffered(): number {
    return this.pending === null ? 0 : 1;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** The subscription the values come from: dropped when the stream ends. */
  attach(subscription: Subscription): void {
    if (this.ended) subscription.unsubscribe();
    else this.subscription ??= subscription;
  }

  /** Writes a value's event now, or keeps it as the one pending value while the socket is backed up. */
  send(text: string): void {
    if (this.ended) return;
    this.values++;
    if (this.waitingForDrain) {
      if (this.pending !== null) this.skipped++;
      this.pending = text;
      return;
    }
    this.write(text);
  }

  /** A comment line that keeps proxies from closing an idle stream; skipped while the socket is backed up. */
  ping(): void {
    if (!this.ended && !this.waitingForDrain) this.write(': ping\n\n');
  }

  /** Ends the stream: unsubscribes, and ends the response unless the client is already gone. */
  end(lastWords?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = null;
    this.subscription?.unsubscribe();
    this.subscription = null;
    if (!this.sink.destroyed && !this.sink.writableEnded) {
      if (lastWords !== undefined) this.sink.write(lastWords);
      this.sink.end();
    }
    this.onEnd(this);
  }

  private write(text: string): void {
    if (this.sink.destroyed) return;
    if (this.sink.write(text)) return;
    this.waitingForDrain = true;
    this.sink.once('drain', () => {
      this.waitingForDrain = false;
      const next = this.pending;
      this.pending = null;
      if (next !== null && !this.ended) this.write(next);
    });
  }
}
