import type { ServerResponse } from 'node:http';
import { BeforeApplicationShutdown, Injectable, OnModuleDestroy } from '@nestjs/common';
import { openEventStream } from '../http/event-stream';
import { LiveSseStream } from './live-sse-stream';

/** A `: ping` comment at this interval keeps proxies from closing an idle stream. */
export const LIVE_STREAM_PING_MS = 15_000;
/** Reconnect delay browsers are told (SSE `retry:`). */
const RETRY_MS = 1000;

/** What the live query streams of this node hold (for tests and diagnostics). */
export interface LiveStreamStats {
  streams: number;
  /** Values waiting for a backed-up socket, all streams together (at most one per stream). */
  buffered: number;
  /** The most any one stream has waiting: 0 or 1. */
  maxBufferedPerStream: number;
}

/**
 * The open Server-Sent Events streams of `@LiveQuery()` routes on this node: one ping timer for all of
 * them (running only while some are open), and their end at shutdown, before the HTTP server closes
 * (which would otherwise wait for them); new ones are refused from then on.
 */
@Injectable()
export class LiveQueryStreams implements OnModuleDestroy, BeforeApplicationShutdown {
  private readonly streams = new Set<LiveSseStream>();
  private pingTimer: NodeJS.Timeout | null = null;
  private closingFlag = false;

  /** True once the app shuts down: no new streams. */
  get closing(): boolean {
    return this.closingFlag;
  }

  /**
   * Answers `res` with the headers of an event stream (status 200) plus `headers`, and registers the
   * stream; it ends when the client leaves, when its query ends, or at shutdown.
   */
  open(res: ServerResponse, headers: Record<string, string | number | string[]> = {}): LiveSseStream {
    openEventStream(res, headers);
    const stream = new LiveSseStream(res, (s) => this.forget(s));
    this.streams.add(stream);
    // The response's 'close' (the connection went, or the response ended); the request's fires once its body is read.
    const end = (): void => stream.end();
    res.once('close', end);
    res.once('error', end);
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.pingTimer ??= setInterval(() => {
      for (const s of this.streams) s.ping();
    }, LIVE_STREAM_PING_MS).unref();
    return stream;
  }

  stats(): LiveStreamStats {
    let buffered = 0;
    let maxBufferedPerStream = 0;
    for (const s of this.streams) {
      buffered += s.buffered;
      maxBufferedPerStream = Math.max(maxBufferedPerStream, s.buffered);
    }
    return { streams: this.streams.size, buffered, maxBufferedPerStream };
  }

  onModuleDestroy(): void {
    this.closeAll();
  }

  beforeApplicationShutdown(): void {
    this.closeAll();
  }

  private closeAll(): void {
    this.closingFlag = true;
    for (const s of [...this.streams]) s.end();
  }

  private forget(s: LiveSseStream): void {
    this.streams.delete(s);
    if (this.streams.size === 0 && this.pingTimer !== null) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
  }
}
