import { ChatMessage } from '../domain/chat-message';

/** The part of an HTTP response a stream writes to (ServerResponse has all of it). */
export interface SseSink {
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): unknown;
  destroy(): unknown;
}

/** What a stream reads: the message log. */
export interface MessageSource {
  after(index: number, limit: number): readonly ChatMessage[];
  readonly evictedThrough: number;
}

export interface SseLimits {
  /** Socket buffer beyond which nothing more is written until it drains. */
  bufferBytes: number;
  /** Messages read from the log per write. */
  batchMessages: number;
}

export type SseCloseReason = 'client' | 'stalled' | 'lagged' | 'shutdown';

export function formatMessageEvent(m: ChatMessage): string {
  // JSON.stringify escapes every newline, so the message is one data line.
  return `id: ${m.commit_index}\nevent: message\ndata: ${JSON.stringify(m)}\n\n`;
}

/** Sent first when the client asked for messages the retention bound has already evicted. */
export function formatTruncatedEvent(evictedThrough: number): string {
  return `event: truncated\ndata: ${JSON.stringify({ evicted_through: evictedThrough })}\n\n`;
}

/**
 * One client's event stream. It keeps no queue: it remembers the last commit_index it sent and
 * reads what follows from the log whenever the log changes, so a slow client costs at most its
 * socket buffer, and a log replaced by a snapshot is simply read on from the same position.
 * A client whose buffer stays full for a whole heartbeat interval, or that falls so far behind that
 * the messages it still needs were evicted, is disconnected; it resumes with Last-Event-ID.
 */
export class SseSubscriber {
  private lastSent: number;
  private waitingForDrain = false;
  private stalledBeats = 0;
  private closedWith: SseCloseReason | null = null;

  constructor(
    private readonly sink: SseSink,
    private readonly source: MessageSource,
    startAfter: number,
    private readonly limits: SseLimits,
    private readonly onClose: (s: SseSubscriber, reason: SseCloseReason) => void = () => undefined,
  ) {
    this.lastSent = startAfter;
  }

  /** commit_index of the last message written to this client. */
  get position(): number {
    return this.lastSent;
  }

  get closeReason(): SseCloseReason | null {
    return this.closedWith;
  }

  /** Writes the preamble and everything retained after the start position. */
  start(): void {
    let preamble = 'retry: 1000\n\n';
    if (this.source.evictedThrough > this.lastSent) {
      preamble += formatTruncatedEvent(this.source.evictedThrough);
      this.lastSent = this.source.evictedThrough;
    }
    this.sink.write(preamble);
    this.pump();
  }

  /** Sends what the log holds past this client's position, as far as its buffer allows. */
  pump(): void {
    while (this.closedWith === null && !this.waitingForDrain) {
      if (this.source.evictedThrough > this.lastSent) {
        this.close('lagged');
        return;
      }
      const batch = this.source.after(this.lastSent, this.limits.batchMessages);
      if (batch.length === 0) return;
      let chunk = '';
      for (const m of batch) chunk += formatMessageEvent(m);
      this.lastSent = batch[batch.length - 1].commit_index;
      this.sink.write(chunk);
      if (this.sink.writableLength > this.limits.bufferBytes) {
        this.waitingForDrain = true;
        this.sink.once('drain', () => {
          this.waitingForDrain = false;
          this.stalledBeats = 0;
          this.pump();
        });
      }
    }
  }

  /** Called every heartbeat interval: a ping on a flowing stream, disconnection of a stalled one. */
  heartbeat(): void {
    if (this.closedWith !== null) return;
    if (this.waitingForDrain) {
      // One beat may fall right after the buffer filled; two in a row means a whole interval without draining.
      if (++this.stalledBeats >= 2) this.close('stalled');
      return;
    }
    this.sink.write(': ping\n\n');
  }

  /** Ends the stream (the client's own disconnect: reason `client`, nothing more is written). */
  close(reason: SseCloseReason): void {
    if (this.closedWith !== null) return;
    this.closedWith = reason;
    if (!this.sink.destroyed) {
      // A stalled or lagging client gets no goodbye: its buffer is full, so cut the socket.
      if (reason === 'stalled' || reason === 'lagged') this.sink.destroy();
      else if (reason === 'shutdown') this.sink.end();
    }
    this.onClose(this, reason);
  }
}
