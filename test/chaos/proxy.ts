/**
 * A userspace TCP proxy in front of each node's peer address, under the nemesis's control. The kernel
 * here refuses `tc netem`, so latency, jitter and connection resets are injected here instead:
 *
 *  - delay + jitter: every chunk is held `delay + U(0, jitter)` ms, but never delivered before an
 *    earlier chunk of the same direction (one FIFO and one timer per direction) (TCP is a byte stream: bytes of one connection cannot be
 *    reordered without corrupting it). Different connections get different delays, so messages on
 *    different connections (the Raft stream, forwarded commands, snapshots) are reordered against
 *    each other; that is the reordering this proxy can do.
 *  - resets: each chunk destroys its connection with some probability (both sides see a reset), which
 *    exercises reconnects and lost in-flight messages.
 *
 * Packet loss is iptables' statistic match (hosts.ts), not the proxy's job.
 *
 * The proxy of host `dst` listens on dst's peer identity and forwards to dst's own address, binding
 * its outgoing socket to the source host's identity, so iptables inside dst sees who is talking.
 */
import * as net from 'node:net';

export interface LinkFault {
  delayMs: number;
  jitterMs: number;
  resetProbability: number;
}

export const NO_FAULT: LinkFault = { delayMs: 0, jitterMs: 0, resetProbability: 0 };

export interface ProxyOptions {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** Host index of this proxy's destination. */
  dst: number;
  /** Which host a connection comes from (by its remote address); null when unknown. */
  sourceOf(remoteAddress: string): number | null;
  /** The address to bind outgoing connections to for traffic from host `src`. */
  bindFor(src: number): string;
  /** The fault on the link src -> dst right now. */
  fault(src: number | null, dst: number): LinkFault;
  random(): number;
}

/** Most bytes held in one direction's delay queue before its source is paused (bounded memory). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

export class FaultProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  connections = 0;
  resets = 0;

  constructor(private readonly opts: ProxyOptions) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => this.onConnection(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listenPort, this.opts.listenHost, () => resolve());
    });
  }

  private onConnection(client: net.Socket): void {
    this.connections++;
    const src = this.opts.sourceOf(client.remoteAddress ?? '');
    const upstream = net.connect({
      host: this.opts.targetHost,
      port: this.opts.targetPort,
      localAddress: src === null ? undefined : this.opts.bindFor(src),
    });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    // A side that closed after a clean end (FIN) leaves the other side open until the bytes still held
    // for it are delivered: the pipe ends it then. Destroying it at once threw away delayed answers
    // (an HTTP response followed by the server's close arrived as ECONNRESET under latency).
    const endedCleanly = new Set<net.Socket>();
    client.once('end', () => endedCleanly.add(client));
    upstream.once('end', () => endedCleanly.add(upstream));
    client.on('close', () => {
      this.sockets.delete(client);
      if (!endedCleanly.has(client)) upstream.destroy();
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      if (!endedCleanly.has(upstream)) client.destroy();
    });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.pipe(client, upstream, () => this.opts.fault(src, this.opts.dst), destroyBoth);
    // The answers travel dst -> src: the fault of that direction.
    this.pipe(upstream, client, () => (src === null ? NO_FAULT : this.opts.fault(this.opts.dst, src)), destroyBoth);
  }

  /**
   * One direction of a connection. Delayed chunks wait in a FIFO served by one timer, so they leave in
   * the order they came: one timer per chunk would not do (timers of different durations that expire
   * in the same millisecond fire in no guaranteed order, which reorders bytes inside the stream; the
   * nodes rightly refuse such a stream: "MAC mismatch").
   */
  private pipe(from: net.Socket, to: net.Socket, fault: () => LinkFault, destroyBoth: () => void): void {
    const queue: { at: number; chunk: Buffer }[] = [];
    let queued = 0;
    let timer: NodeJS.Timeout | null = null;
    let waitingDrain = false;
    let ended = false;
    const backpressure = (): void => {
      from.pause();
      if (waitingDrain) return;
      waitingDrain = true;
      to.once('drain', () => {
        waitingDrain = false;
        if (queued <= MAX_QUEUED_BYTES) from.resume();
      });
    };
    const pump = (): void => {
      timer = null;
      const now = Date.now();
      while (queue.length > 0 && queue[0].at <= now) {
        const { chunk } = queue.shift()!;
        queued -= chunk.length;
        if (to.destroyed) return;
        if (!to.write(chunk)) backpressure();
      }
      if (queue.length > 0) timer = setTimeout(pump, queue[0].at - now);
      else if (ended) to.end();
      if (queued <= MAX_QUEUED_BYTES && !waitingDrain && from.isPaused()) from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      const f = fault();
      if (f.resetProbability > 0 && this.opts.random() < f.resetProbability) {
        this.resets++;
        from.resetAndDestroy();
        to.resetAndDestroy();
        destroyBoth();
        return;
      }
      if (f.delayMs === 0 && f.jitterMs === 0 && queue.length === 0) {
        if (!to.write(chunk)) backpressure();
        return;
      }
      const last = queue.length > 0 ? queue[queue.length - 1].at : 0;
      const at = Math.max(last, Date.now() + f.delayMs + Math.floor(this.opts.random() * (f.jitterMs + 1)));
      queue.push({ at, chunk });
      queued += chunk.length;
      if (queued > MAX_QUEUED_BYTES) from.pause();
      if (timer === null) timer = setTimeout(pump, Math.max(0, queue[0].at - Date.now()));
    });
    from.on('end', () => {
      // Half-close once everything queued went out.
      ended = true;
      if (queue.length === 0) to.end();
    });
    from.on('close', () => {
      if (timer !== null && to.destroyed) clearTimeout(timer);
    });
    to.on('close', () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      queue.length = 0;
    });
  }

  /** Drops every open connection (used when the topology changes, so no stale socket survives). */
  resetAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.resetAll();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
