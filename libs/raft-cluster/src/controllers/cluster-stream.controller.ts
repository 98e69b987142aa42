import type { ServerResponse } from 'node:http';
import { BeforeApplicationShutdown, Controller, Get, OnModuleDestroy, Req, Res, UseGuards } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { RaftReadGuard } from '../admin/admin.guard';
import { ClusterStatus, RaftClusterService } from '../raft-cluster.service';
import { openEventStream } from '../http/event-stream';
import { rawRequest, takeOverResponse } from '../http/http-platform';

/** How often the status is sampled (events$ also triggers a sample at once). */
export const STREAM_POLL_MS = 300;
/** A comment line at this interval keeps proxies and browsers from timing the stream out. */
export const STREAM_PING_MS = 15_000;
/** A client whose unsent output grows past this many bytes is too slow (or gone): it is dropped. */
export const STREAM_MAX_BUFFERED_BYTES = 256 * 1024;
/** At most this many concurrent streams per node; more get 503. */
export const STREAM_MAX_CLIENTS = 256;
/** Reconnect delay the browser is told to use (SSE `retry:`). */
const RETRY_MS = 1000;

interface StreamClient {
  res: ServerResponse;
  /** The change key of the last status sent to this client. */
  lastKey: string | null;
}


/**
 * The key a status is compared by: everything but `lastContactMs`, which counts heartbeat ticks on the
 * leader and would change on nearly every sample; it takes part in whole seconds, so a peer that went
 * silent still shows up as its silence grows.
 */
function changeKey(s: ClusterStatus): string {
  return JSON.stringify({
    ...s,
    members: s.members.map((m) => ({ ...m, lastContactMs: m.lastContactMs === null ? null : Math.floor(m.lastContactMs / 1000) })),
  });
}

/**
 * `GET /cluster/stream`: Server-Sent Events of this node's `GET /cluster/status` body. One `status`
 * event at connect, then one whenever it changes (sampled every {@link STREAM_POLL_MS} ms and at
 * once on every cluster event), a `: ping` comment every {@link STREAM_PING_MS} ms. The event id is
 * the node's commit index.
 *
 * Bounded: a client whose socket buffer passes {@link STREAM_MAX_BUFFERED_BYTES} is disconnected,
 * and at most {@link STREAM_MAX_CLIENTS} streams are open at once. The status is computed once
 * per sample for all clients; the timers run only while someone listens.
 *
 * The answer carries `Access-Control-Allow-Origin: *` so that a page served by one member can watch
 * every member (the status is read-only and `/cluster/status` needs no credentials either).
 * At shutdown the streams are ended (before the HTTP server closes, which would otherwise wait for
 * them) and new ones are refused with 503.
 */
@Controller('cluster')
export class ClusterStreamController implements OnModuleDestroy, BeforeApplicationShutdown {
  private readonly clients = new Set<StreamClient>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private eventsSub: Subscription | null = null;
  private sampleScheduled = false;
  private closing = false;

  constructor(private readonly cluster: RaftClusterService) {}

  @Get('stream')
  @UseGuards(RaftReadGuard)
  stream(@Req() request: unknown, @Res() reply: unknown): void {
    const req = rawRequest(request);
    const res = takeOverResponse(reply);
    if (this.closing || this.clients.size >= STREAM_MAX_CLIENTS) {
      const closing = this.closing;
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1', 'Access-Control-Allow-Origin': '*' });
      res.end(
        JSON.stringify(
          closing
            ? { error: 'shutting_down', message: 'this node is shutting down' }
            : { error: 'overloaded', message: `too many status streams open (at most ${STREAM_MAX_CLIENTS})` },
        ),
      );
      return;
    }
    openEventStream(res, { 'Access-Control-Allow-Origin': '*' });
    const client: StreamClient = { res, lastKey: null };
    this.clients.add(client);
    const drop = (): void => this.drop(client);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    this.write(client, `retry: ${RETRY_MS}\n\n`);
    this.ensureRunning();
    this.sample(client);
  }

  onModuleDestroy(): void {
    this.shutdown();
  }

  beforeApplicationShutdown(): void {
    this.shutdown();
  }

  /** Number of open streams (for tests and diagnostics). */
  get clientCount(): number {
    return this.clients.size;
  }

  private shutdown(): void {
    this.closing = true;
    for (const c of [...this.clients]) {
      this.clients.delete(c);
      c.res.end();
    }
    this.stopTimers();
  }

  private ensureRunning(): void {
    if (this.pollTimer === null) {
      this.pollTimer = setInterval(() => this.sample(), STREAM_POLL_MS);
      this.pollTimer.unref();
    }
    if (this.pingTimer === null) {
      this.pingTimer = setInterval(() => {
        for (const c of [...this.clients]) this.write(c, ': ping\n\n');
      }, STREAM_PING_MS);
      this.pingTimer.unref();
    }
    if (this.eventsSub === null) {
      this.eventsSub = this.cluster.events$.subscribe({
        next: () => this.scheduleSample(),
        complete: () => this.shutdown(),
      });
    }
  }

  private stopTimers(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pollTimer = this.pingTimer = null;
    this.eventsSub?.unsubscribe();
    this.eventsSub = null;
  }

  /** Several events in one turn (a new leader, its role and term) give one sample. */
  private scheduleSample(): void {
    if (this.sampleScheduled) return;
    this.sampleScheduled = true;
    setImmediate(() => {
      this.sampleScheduled = false;
      this.sample();
    });
  }

  /** Sends the current status to `only` (or every client) where it differs from what that client last got. */
  private sample(only?: StreamClient): void {
    if (this.clients.size === 0) return;
    let status: ClusterStatus;
    try {
      status = this.cluster.status();
    } catch {
      return; // not started yet, or stopped: nothing to show; the next sample tries again
    }
    const key = changeKey(status);
    let frame: string | null = null;
    for (const c of only !== undefined ? [only] : [...this.clients]) {
      if (c.lastKey === key) continue;
      frame ??= `event: status\nid: ${status.commitIndex}\ndata: ${JSON.stringify(status)}\n\n`;
      c.lastKey = key;
      this.write(c, frame);
    }
  }

  private write(c: StreamClient, frame: string): void {
    if (!this.clients.has(c)) return;
    if (c.res.writableLength > STREAM_MAX_BUFFERED_BYTES) {
      // The client does not read: drop it rather than buffer without bound.
      this.drop(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }

  private drop(c: StreamClient): void {
    if (!this.clients.delete(c)) return;
    if (this.clients.size === 0) this.stopTimers();
  }
}
