/** A peer server and a sending transport on loopback, and raw requests to the peer endpoints, for the transport tests. */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { HeartbeatRequest, Message } from '../../src/core/types';
import { signPeerRequest } from '../../src/transport/auth';
import { encodeMessages } from '../../src/transport/codec';
import { encodeFrame } from '../../src/transport/frame';
import { HttpTransport, HttpTransportOptions } from '../../src/transport/http-transport';
import { mountPeerHandler } from '../../src/transport/mount-peer-handler';
import { PEER_MESSAGES_PATH, PEER_STREAM_PATH } from '../../src/transport/peer-endpoints';
import { createPeerRequestHandler } from '../../src/transport/peer-handler';

export const SECRET = 'S3cr3t-peer-key-e2e';

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export function hb(from: string, to: string, n: number): HeartbeatRequest {
  return { type: 'heartbeat', from, to, term: 1, commit: n, readRound: 0 };
}

export const commits = (ms: Message[]): number[] => ms.map((m) => (m as HeartbeatRequest).commit);

/** Closed by the `afterEach` of every spec that imports this file, last first. */
export const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

export interface TestPeer {
  server: http.Server;
  url: string;
  port: number;
  received: Message[];
  /** Each onMessages call: one per request or stream frame. */
  batches: Message[][];
  froms: (string | undefined)[];
  /** The URL of every request that reached the server. */
  requests: string[];
  logs: string[];
  unmount(): void;
  close(): Promise<void>;
}

export interface TestPeerOptions {
  secret?: string | null;
  maxBodyBytes?: number;
  port?: number;
  selfId?: string;
  /** server.requestTimeout (and headersTimeout) before mounting. */
  requestTimeout?: number;
  /** Sets server.requestTimeout again after mounting, undoing what mountPeerHandler did. */
  keepRequestTimeout?: boolean;
}

/** A peer server: the peer handler mounted in front of an app that answers 404 'not mine'. */
export async function startPeer(opts: TestPeerOptions = {}): Promise<TestPeer> {
  const peer = { received: [] as Message[], batches: [] as Message[][], froms: [] as (string | undefined)[], requests: [] as string[], logs: [] as string[] };
  const handler = createPeerRequestHandler({
    secret: opts.secret === undefined ? SECRET : opts.secret,
    maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024,
    selfId: opts.selfId,
    logger: { warn: (m) => peer.logs.push(m), debug: (m) => peer.logs.push(m) },
    onMessages: (msgs, from) => {
      peer.batches.push(msgs);
      peer.received.push(...msgs);
      peer.froms.push(from);
    },
  });
  const server = http.createServer({ connectionsCheckingInterval: opts.requestTimeout ? 50 : 30_000 }, (_req, res) => {
    res.statusCode = 404;
    res.end('not mine');
  });
  if (opts.requestTimeout) {
    server.requestTimeout = opts.requestTimeout;
    server.headersTimeout = opts.requestTimeout;
  }
  const unmount = mountPeerHandler(server, handler);
  server.on('request', (req: http.IncomingMessage) => peer.requests.push(req.url ?? '')); // after the peer handler
  if (opts.keepRequestTimeout && opts.requestTimeout) server.requestTimeout = opts.requestTimeout;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(peer, {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    unmount,
    close: async () => {
      server.closeAllConnections();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

export interface Spy {
  warn: string[];
  debug: string[];
  statuses: [string, boolean][];
}

/** A transport for node 'a' whose logs and status changes land in the spy. */
export function transport(over: Partial<HttpTransportOptions> = {}): { t: HttpTransport; spy: Spy } {
  const spy: Spy = { warn: [], debug: [], statuses: [] };
  const t = new HttpTransport({
    selfId: 'a',
    secret: SECRET,
    requestTimeoutMs: 2000,
    logger: { warn: (m) => spy.warn.push(m), debug: (m) => spy.debug.push(m) },
    onPeerStatus: (id, ok) => spy.statuses.push([id, ok]),
    ...over,
  });
  return { t, spy };
}

/** Peer 'b' and a transport that knows it (and its own address, which it must ignore). */
export async function setup(peerOpts: TestPeerOptions = {}, over: Partial<HttpTransportOptions> = {}): Promise<{ b: TestPeer; t: HttpTransport; spy: Spy }> {
  const b = await startPeer(peerOpts);
  const { t, spy } = transport(over);
  t.setPeers({ a: 'http://127.0.0.1:1', b: b.url });
  cleanups.push(() => b.close(), () => t.close());
  return { b, t, spy };
}

export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function rawRequest(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer; chunks?: Buffer[] }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? PEER_MESSAGES_PATH, headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/** Headers of a signed `POST` of `body` to `path`. */
export function signed(body: Buffer, path = PEER_MESSAGES_PATH, secret = SECRET): Record<string, string> {
  return { 'content-type': 'application/octet-stream', ...signPeerRequest(secret, 'POST', path, body, Date.now()) };
}

/** A hand-made stream: signed headers, then whatever bytes the test writes. */
export function rawStream(port: number, headers?: Record<string, string>): { req: http.ClientRequest; nonce: string; result: Promise<{ status: number; body: string } | { error: string }>; info: number[] } {
  const nonce = 'n' + Math.random().toString(36).slice(2).padEnd(20, 'x');
  const h = headers ?? { 'x-raft-from': 'a', ...signPeerRequest(SECRET, 'POST', PEER_STREAM_PATH, Buffer.alloc(0), Date.now(), nonce) };
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: PEER_STREAM_PATH, headers: h, agent: false });
  const info: number[] = [];
  req.on('information', (i) => info.push(i.statusCode));
  const result = new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
  });
  req.flushHeaders();
  return { req, nonce, result, info };
}

export const frame = (nonce: string, seq: number, msgs: Message[], secret: string | null = SECRET): Buffer => encodeFrame(secret, nonce, seq, encodeMessages(msgs));

/**
 * Holds back the completion callbacks of client request writes until `release()`: the sender then sees
 * its frame write still in flight (the bytes themselves go out).
 */
export function stallWrites(): { release(): void; stalled(): number } {
  type Write = (this: http.ClientRequest, chunk: unknown, cb?: (err?: Error | null) => void) => boolean;
  const original = http.ClientRequest.prototype.write as Write;
  let held: (() => void)[] = [];
  let holding = true;
  const stalling: Write = function (chunk, done) {
    return original.call(this, chunk, (err) => {
      if (holding && done) held.push(() => done(err));
      else done?.(err);
    });
  };
  jest.spyOn(http.ClientRequest.prototype, 'write').mockImplementation(stalling as typeof http.ClientRequest.prototype.write);
  return {
    release: () => {
      holding = false;
      const h = held;
      held = [];
      for (const run of h) run();
    },
    stalled: () => held.length,
  };
}
