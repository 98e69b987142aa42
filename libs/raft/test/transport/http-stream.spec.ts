import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { HeartbeatRequest, Message } from '../../src/core/types';
import { signPeerRequest } from '../../src/transport/auth';
import { decodeMessages, encodeMessages } from '../../src/transport/codec';
import {
  createPeerRequestHandler,
  encodeFrame,
  FrameError,
  FrameParser,
  HttpTransport,
  HttpTransportOptions,
  mountPeerHandler,
  PEER_STREAM_PATH,
} from '../../src/transport/http-transport';

const SECRET = 'S3cr3t-stream-key';
const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA';

async function waitFor(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hb(from: string, to: string, n: number): HeartbeatRequest {
  return { type: 'heartbeat', from, to, term: 1, commit: n, readRound: 0 };
}
const commits = (ms: Message[]): number[] => ms.map((m) => (m as HeartbeatRequest).commit);

interface TestPeer {
  server: http.Server;
  url: string;
  port: number;
  received: Message[];
  /** onMessages calls */
  calls: number;
  requests: string[];
  logs: string[];
  unmount(): void;
  close(): Promise<void>;
}

async function startPeer(opts: { secret?: string | null; maxBodyBytes?: number; port?: number; requestTimeout?: number; keepRequestTimeout?: boolean } = {}): Promise<TestPeer> {
  const peer = { received: [] as Message[], calls: 0, requests: [] as string[], logs: [] as string[] };
  const handler = createPeerRequestHandler({
    secret: opts.secret === undefined ? SECRET : opts.secret,
    maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024,
    selfId: 'b',
    logger: { warn: (m) => peer.logs.push(m), debug: (m) => peer.logs.push(m) },
    onMessages: (msgs) => {
      peer.calls++;
      peer.received.push(...msgs);
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

interface Spy {
  warn: string[];
  debug: string[];
  statuses: [string, boolean][];
}

function transport(over: Partial<HttpTransportOptions> = {}): { t: HttpTransport; spy: Spy } {
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

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(peerOpts: Parameters<typeof startPeer>[0] = {}, over: Partial<HttpTransportOptions> = {}): Promise<{ b: TestPeer; t: HttpTransport; spy: Spy }> {
  const b = await startPeer(peerOpts);
  const { t, spy } = transport(over);
  t.setPeers({ b: b.url });
  cleanups.push(() => b.close(), () => t.close());
  return { b, t, spy };
}

/** A hand-made stream: signed headers, then whatever bytes the test writes. */
function rawStream(port: number, headers?: Record<string, string>): { req: http.ClientRequest; nonce: string; result: Promise<{ status: number; body: string } | { error: string }>; info: number[] } {
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

const frame = (nonce: string, seq: number, msgs: Message[], secret: string | null = SECRET): Buffer => encodeFrame(secret, nonce, seq, encodeMessages(msgs));

// ------------------------------------------------------------------ frame parser

describe('FrameParser', () => {
  const frames = [frame(NONCE, 0, [hb('a', 'b', 0)]), frame(NONCE, 1, [hb('a', 'b', 1), hb('a', 'b', 2)]), frame(NONCE, 2, [])];
  const all = Buffer.concat(frames);

  it('handles frames split at every byte boundary, and several frames per chunk', () => {
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j += 7) {
        const p = new FrameParser(SECRET, NONCE, 1 << 20);
        const out = [...p.push(all.subarray(0, i)), ...p.push(all.subarray(i, j)), ...p.push(all.subarray(j))];
        expect(out.map((b) => commits(decodeMessages(b)))).toEqual([[0], [1, 2], []]);
        expect(p.pending).toBe(0);
      }
    }
    const p = new FrameParser(SECRET, NONCE, 1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i++) got.push(...p.push(all.subarray(i, i + 1))); // byte by byte
    expect(got).toHaveLength(3);
    expect(new FrameParser(SECRET, NONCE, 1 << 20).push(all)).toHaveLength(3); // coalesced
  });

  it('rejects a tampered payload, a wrong MAC, a replayed or reordered frame, another nonce', () => {
    const tampered = Buffer.from(frames[1]);
    tampered[6] ^= 1;
    const wrongMac = Buffer.from(frames[1]);
    wrongMac[wrongMac.length - 1] ^= 1;
    for (const [bad, _what] of [
      [tampered, 'tampered'],
      [wrongMac, 'wrong MAC'],
      [frames[0], 'replayed'],
      [frames[2], 'reordered'],
      [frame('BBBBBBBBBBBBBBBBBBBBBB', 1, [hb('a', 'b', 1)]), 'other stream'],
      [frame(NONCE, 1, [hb('a', 'b', 1)], 'other-secret'), 'other secret'],
    ] as const) {
      const p = new FrameParser(SECRET, NONCE, 1 << 20);
      expect(p.push(frames[0])).toHaveLength(1);
      expect(() => p.push(Buffer.concat([bad, frames[1]]))).toThrow(FrameError);
      expect(() => p.push(frames[1])).toThrow(/already rejected/); // nothing after the bad frame
      expect(p.frames).toBe(1);
    }
  });

  it('rejects a frame over the limit as soon as its header is in (413)', () => {
    const p = new FrameParser(SECRET, NONCE, 10);
    const big = frame(NONCE, 0, [hb('a', 'b', 0)]);
    expect(() => p.push(big.subarray(0, 4))).toThrow(expect.objectContaining({ status: 413 }));
  });

  it('insecure mode: zero MAC, not checked', () => {
    const f = frame(NONCE, 0, [hb('a', 'b', 0)], null);
    expect(f.subarray(f.length - 16).equals(Buffer.alloc(16))).toBe(true);
    expect(new FrameParser(null, '', 1 << 20).push(f)).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ stream receiver

describe('POST /raft/stream handler', () => {
  it('accepts with 102, delivers frames split or coalesced, answers 204 when the stream ends', async () => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const s = rawStream(b.port);
    const fs = Array.from({ length: 20 }, (_, i) => frame(s.nonce, i, [hb('a', 'b', i)]));
    s.req.write(Buffer.concat(fs.slice(0, 10))); // coalesced
    const rest = Buffer.concat(fs.slice(10));
    for (let i = 0; i < rest.length; i += 5) {
      s.req.write(rest.subarray(i, i + 5)); // split anywhere
      if (i % 50 === 0) await sleep(1);
    }
    await waitFor(() => b.received.length === 20, '20 messages');
    s.req.end();
    expect(await s.result).toEqual({ status: 204, body: '' });
    expect(s.info).toEqual([102]);
    expect(commits(b.received)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it.each([
    ['tampered', (f: Buffer) => ((f[8] ^= 1), f)],
    ['wrong MAC', (f: Buffer) => ((f[f.length - 3] ^= 0x80), f)],
  ])('%s frame: the stream is closed with 400 and nothing from that frame on is delivered', async (_what, spoil) => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const s = rawStream(b.port);
    s.req.write(frame(s.nonce, 0, [hb('a', 'b', 0)]));
    s.req.write(Buffer.concat([spoil(frame(s.nonce, 1, [hb('a', 'b', 1)])), frame(s.nonce, 2, [hb('a', 'b', 2)])]));
    const r = await s.result;
    expect(r).toMatchObject({ status: 400 });
    expect(commits(b.received)).toEqual([0]);
    expect(b.logs.filter((l) => l.includes('stream') && l.includes('closed'))).toHaveLength(1);
    expect(b.logs.join('\n')).not.toContain(SECRET);
  });

  it.each([
    ['replayed', [0, 0, 1]],
    ['reordered', [1, 0]],
    ['skipped', [0, 2]],
  ])('%s frame sequence: closed, nothing from that frame on', async (_what, seqs) => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const s = rawStream(b.port);
    const cache = [0, 1, 2].map((i) => frame(s.nonce, i, [hb('a', 'b', i)]));
    for (const q of seqs) s.req.write(cache[q]);
    expect(await s.result).toMatchObject({ status: 400 });
    const firstBad = seqs.findIndex((q, i) => q !== i);
    expect(commits(b.received)).toEqual(seqs.slice(0, firstBad));
  });

  it('bad headers: 401 at once, nothing delivered (unsigned, wrong secret, replayed headers)', async () => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const unsigned = rawStream(b.port, { 'x-raft-from': 'a' });
    unsigned.req.write(frame('', 0, [hb('a', 'b', 0)], null));
    expect(await unsigned.result).toMatchObject({ status: 401 });
    const wrong = rawStream(b.port, { 'x-raft-from': 'a', ...signPeerRequest('not-the-secret', 'POST', PEER_STREAM_PATH, Buffer.alloc(0), Date.now()) });
    expect(await wrong.result).toMatchObject({ status: 401 });
    const headers = { 'x-raft-from': 'a', ...signPeerRequest(SECRET, 'POST', PEER_STREAM_PATH, Buffer.alloc(0), Date.now(), 'replayed-nonce-0123456') };
    const first = rawStream(b.port, headers);
    first.req.write(frame('replayed-nonce-0123456', 0, [hb('a', 'b', 7)]));
    await waitFor(() => b.received.length === 1, 'first stream delivery');
    const replay = rawStream(b.port, headers);
    replay.req.write(frame('replayed-nonce-0123456', 0, [hb('a', 'b', 8)]));
    expect(await replay.result).toMatchObject({ status: 401 });
    first.req.end();
    await first.result;
    expect(commits(b.received)).toEqual([7]);
  });

  it('a frame over maxBodyBytes closes the stream with 413; the sender reports the peer unreachable', async () => {
    const { b, t, spy } = await setup({ maxBodyBytes: 200 }, { retryDelayMs: 1000 });
    t.send(Array.from({ length: 50 }, (_, i) => hb('a', 'b', i))); // one frame of 50 heartbeats, over 200 bytes
    await waitFor(() => spy.statuses.some(([, ok]) => !ok), 'unreachable');
    expect(spy.warn.join('\n')).toMatch(/HTTP 413/);
    expect(b.received).toEqual([]);
  });
});

// ------------------------------------------------------------------ stream transport

describe('HttpTransport in stream mode (default)', () => {
  it('1000 messages arrive in order over one stream', async () => {
    const { b, t, spy } = await setup();
    for (let i = 0; i < 1000; i++) {
      t.send([hb('a', 'b', i)]);
      if (i % 100 === 0) await sleep(1);
    }
    await waitFor(() => b.received.length === 1000, '1000 messages');
    expect(commits(b.received)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
    expect(spy.statuses).toEqual([['b', true]]);
    expect(t.peerStatus().b).toMatchObject({ reachable: true, requests: 1 });
  });

  it('counts writes: N batches -> N frames, one req.write each, on one request', async () => {
    const { b, t } = await setup();
    const writes = jest.spyOn(http.ClientRequest.prototype, 'write');
    const N = 25;
    for (let i = 0; i < N; i++) {
      t.send([hb('a', 'b', 2 * i), hb('a', 'b', 2 * i + 1)]); // one batch per turn
      await waitFor(() => b.received.length === 2 * i + 2, `batch ${i}`);
    }
    expect(writes).toHaveBeenCalledTimes(N);
    expect(b.calls).toBe(N);
    expect(b.requests).toHaveLength(1);
    expect(t.peerStatus().b).toMatchObject({ frames: N, requests: 1 });
  });

  it('respects maxBatchBytes per frame', async () => {
    const { b, t } = await setup({}, { maxBatchBytes: 300, maxQueueBytes: 1 << 20 });
    t.send(Array.from({ length: 100 }, (_, i) => hb('a', 'b', i)));
    await waitFor(() => b.received.length === 100, '100 messages');
    expect(b.calls).toBeGreaterThan(3);
    expect(t.peerStatus().b.frames).toBe(b.calls);
    expect(commits(b.received)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('peer restart: unreachable, reconnects with backoff, delivery resumes on a new stream', async () => {
    const { b, t, spy } = await setup({}, { retryDelayMs: 5, maxRetryDelayMs: 20 });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'first delivery');
    const port = b.port;
    await b.close();
    for (let i = 0; i < 5 && !spy.statuses.some(([, ok]) => !ok); i++) {
      t.send([hb('a', 'b', 100 + i)]);
      await sleep(20);
    }
    await waitFor(() => spy.statuses.length === 2, 'unreachable');
    const b2 = await startPeer({ port });
    cleanups.push(() => b2.close());
    let n = 1000;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 5);
    cleanups.push(() => clearInterval(timer));
    await waitFor(() => b2.received.length >= 5, 'delivery after the restart');
    expect(spy.statuses).toEqual([
      ['b', true],
      ['b', false],
      ['b', true],
    ]);
    const got = commits(b2.received).filter((c) => c >= 1000);
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(b2.requests.every((r) => r === PEER_STREAM_PATH)).toBe(true);
  });

  it('the stream survives longer than a short server.requestTimeout (mountPeerHandler lifts it)', async () => {
    const { b, t, spy } = await setup({ requestTimeout: 200 });
    expect(b.server.requestTimeout).toBe(0);
    let n = 0;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 20);
    cleanups.push(() => clearInterval(timer));
    await sleep(1000);
    clearInterval(timer);
    await waitFor(() => b.received.length === n, 'all heartbeats');
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
    expect(spy.statuses).toEqual([['b', true]]);
  });

  it('(contrast) with server.requestTimeout left on, Node kills the stream after it', async () => {
    const { b, t, spy } = await setup({ requestTimeout: 200, keepRequestTimeout: true }, { retryDelayMs: 5 });
    let n = 0;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 20);
    cleanups.push(() => clearInterval(timer));
    await waitFor(() => spy.statuses.some(([, ok]) => !ok), 'stream killed', 3000);
    clearInterval(timer);
    expect(b.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('wrong secret: 401, peer unreachable, nothing delivered, no secret in logs', async () => {
    const { b, t, spy } = await setup({ secret: 'the-other-secret' });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => spy.statuses.length === 1, 'status change');
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn[0]).toMatch(/HTTP 401 unauthorized .*cluster secret/);
    expect(b.received).toEqual([]);
    for (const line of [...spy.warn, ...spy.debug, ...b.logs]) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain('the-other-secret');
    }
  });

  it('insecure mode on both ends works', async () => {
    const { b, t } = await setup({ secret: null }, { secret: null });
    t.send([hb('a', 'b', 1), hb('a', 'b', 2)]);
    await waitFor(() => b.received.length === 2, 'delivery');
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
  });

  it('unmounting the handler ends open streams, so server.close() does not wait for them', async () => {
    const { b, t, spy } = await setup({}, { retryDelayMs: 1000 });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'delivery');
    // server.close() alone waits for active requests, and a stream never ends by itself
    const closed = new Promise<void>((r) => b.server.close(() => r()));
    b.unmount();
    await closed;
    await waitFor(() => spy.statuses.length === 2, 'unreachable');
  });

  it('close() ends the stream; later sends are ignored', async () => {
    const { b, t } = await setup();
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'delivery');
    await t.close();
    t.send([hb('a', 'b', 2)]);
    await sleep(20);
    expect(b.received).toHaveLength(1);
  });
});
