import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { EntryType, HeartbeatRequest, Message } from '../../src/core/types';
import { signPeerRequest } from '../../src/transport/auth';
import { encodeMessages } from '../../src/transport/codec';
import { createPeerRequestHandler, HttpTransport, HttpTransportOptions, mountPeerHandler, PeerRequestHandler } from '../../src/transport/http-transport';

const SECRET = 'S3cr3t-peer-key-e2e';

// ------------------------------------------------------------------ helpers

async function waitFor(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function hb(from: string, to: string, n: number): HeartbeatRequest {
  return { type: 'heartbeat', from, to, term: 1, commit: n, readRound: 0 };
}

interface TestPeer {
  server: http.Server;
  url: string;
  port: number;
  received: Message[];
  froms: (string | undefined)[];
  /** Every request that reached the server, with its content-length. */
  requests: { url: string; length: number }[];
  /** While closed, requests wait (unread) until `release()`. */
  hold(): void;
  release(): void;
  held(): number;
  close(): Promise<void>;
}

async function startPeer(opts: { secret?: string | null; maxBodyBytes?: number; port?: number; selfId?: string } = {}): Promise<TestPeer> {
  const received: Message[] = [];
  const froms: (string | undefined)[] = [];
  const requests: { url: string; length: number }[] = [];
  let holding = false;
  let pending: (() => void)[] = [];
  const handler = createPeerRequestHandler({
    secret: opts.secret === undefined ? SECRET : opts.secret,
    maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024,
    selfId: opts.selfId,
    onMessages: (msgs, from) => {
      received.push(...msgs);
      froms.push(from);
    },
  });
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', length: Number(req.headers['content-length'] ?? -1) });
    const run = (): void => {
      if (!handler(req, res)) {
        res.statusCode = 404;
        res.end('not mine');
      }
    };
    if (holding) pending.push(run);
    else run();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    froms,
    requests,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const p = pending;
      pending = [];
      for (const run of p) run();
    },
    held: () => pending.length,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
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
    mode: 'request',
    logger: { warn: (m) => spy.warn.push(m), debug: (m) => spy.debug.push(m) },
    onPeerStatus: (id, ok) => spy.statuses.push([id, ok]),
    ...over,
  });
  return { t, spy };
}

function rawRequest(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer; chunks?: Buffer[] }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/raft/messages', headers: opts.headers }, (res) => {
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

function signed(body: Buffer, path = '/raft/messages', secret = SECRET): Record<string, string> {
  return { 'content-type': 'application/octet-stream', ...signPeerRequest(secret, 'POST', path, body, Date.now()) };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(peerOpts: Parameters<typeof startPeer>[0] = {}, over: Partial<HttpTransportOptions> = {}): Promise<{ b: TestPeer; t: HttpTransport; spy: Spy }> {
  const b = await startPeer(peerOpts);
  const { t, spy } = transport(over);
  t.setPeers({ a: 'http://127.0.0.1:1', b: b.url });
  cleanups.push(() => b.close(), () => t.close());
  return { b, t, spy };
}

// ------------------------------------------------------------------ tests

describe('HttpTransport over loopback', () => {
  it('delivers messages in order, batching sends made in the same turn into one request', async () => {
    const { b, t, spy } = await setup();
    for (let i = 0; i < 1000; i++) t.send([hb('a', 'b', i)]);
    await waitFor(() => b.received.length === 1000, '1000 messages');
    await waitFor(() => spy.statuses.length === 1, 'status change'); // the response arrives after delivery
    expect(b.received.map((m) => (m as HeartbeatRequest).commit)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(b.requests.length).toBe(1);
    expect(b.froms.every((f) => f === 'a')).toBe(true);
    expect(spy.statuses).toEqual([['b', true]]);
    const st = t.peerStatus();
    expect(Object.keys(st)).toEqual(['b']); // own id ignored
    expect(st.b.reachable).toBe(true);
    expect(st.b.lastSuccessMs).not.toBeNull();
  });

  it('keeps one request in flight per peer; what is queued meanwhile leaves as one batch', async () => {
    const { b, t } = await setup();
    b.hold();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => b.held() === 1, 'first request to arrive');
    for (let i = 1; i < 1000; i++) {
      t.send([hb('a', 'b', i)]);
      if (i % 10 === 0) await tick(); // spread over many event-loop turns
    }
    expect(t.peerStatus().b.queued).toBe(999);
    expect(b.requests.length).toBe(1);
    b.release();
    await waitFor(() => b.received.length === 1000, '1000 messages');
    expect(b.requests.length).toBe(2);
    expect(b.received.map((m) => (m as HeartbeatRequest).commit)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('bounds the queue in bytes too (oldest dropped)', async () => {
    const { b, t } = await setup({}, { maxBatchBytes: 8192 }); // queue limit: 4 x 8 KiB
    b.hold();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => b.held() === 1, 'first request');
    const appends: Message[] = Array.from({ length: 100 }, (_, i) => ({
      type: 'append',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: i,
      prevTerm: 2,
      commit: 0,
      entries: [{ index: i + 1, term: 2, type: EntryType.Normal, data: Buffer.alloc(1000) }],
    }));
    t.send(appends);
    const st = t.peerStatus().b;
    expect(st.queued).toBeLessThan(33);
    expect(st.queued).toBeGreaterThan(20);
    expect(st.dropped).toBe(100 - st.queued);
    b.release();
    await waitFor(() => b.received.length === 1 + st.queued, 'the kept messages');
    expect(b.received.slice(1).map((m) => (m.type === 'append' ? m.prevIndex : -1))).toEqual(Array.from({ length: st.queued }, (_, i) => 100 - st.queued + i));
  });

  it('never sends a batch over maxBatchBytes, except a single larger message', async () => {
    const { b, t } = await setup({}, { maxBatchBytes: 8192, maxQueueBytes: 1 << 20 });
    const append = (i: number, size: number): Message => ({
      type: 'append',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: i,
      prevTerm: 2,
      commit: 0,
      entries: [{ index: i + 1, term: 2, type: EntryType.Normal, data: Buffer.alloc(size, i) }],
    });
    const msgs = Array.from({ length: 50 }, (_, i) => append(i, 1000));
    msgs.push(append(50, 20_000));
    t.send(msgs);
    await waitFor(() => b.received.length === 51, '51 appends');
    expect(b.received.map((m) => (m.type === 'append' ? m.prevIndex : -1))).toEqual(Array.from({ length: 51 }, (_, i) => i));
    const sizes = b.requests.map((r) => r.length);
    expect(sizes.length).toBeGreaterThanOrEqual(8);
    expect(sizes.slice(0, -1).every((n) => n <= 8192)).toBe(true);
    expect(sizes[sizes.length - 1]).toBeGreaterThan(20_000);
  });

  it('peer down: reported unreachable once, queue bounded, recovers when the peer comes back', async () => {
    const port = await freePort();
    const { t, spy } = transport({ retryDelayMs: 2, maxRetryDelayMs: 10, maxQueueMessages: 50 });
    cleanups.push(() => t.close());
    t.setPeers({ b: `http://127.0.0.1:${port}` });
    const failures = (): number => spy.debug.filter((m) => m.includes('request to b failed')).length;
    for (let i = 0; i < 4; i++) {
      const before = failures();
      t.send([hb('a', 'b', i)]);
      await waitFor(() => failures() > before, `failure ${i + 1}`);
    }
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn.filter((m) => m.includes('unreachable'))).toHaveLength(1);
    expect(spy.warn[0]).toMatch(/peer b .* unreachable: ECONNREFUSED/);
    expect(t.peerStatus().b).toMatchObject({ reachable: false, lastSuccessMs: null });

    // A burst while the peer is down: only the newest 50 are kept.
    const burst = Array.from({ length: 500 }, (_, i) => hb('a', 'b', 100 + i));
    t.send(burst);
    expect(t.peerStatus().b.queued).toBe(50);
    expect(t.peerStatus().b.dropped).toBeGreaterThanOrEqual(450);

    const b = await startPeer({ port });
    cleanups.push(() => b.close());
    t.send([hb('a', 'b', 9999)]);
    await waitFor(() => b.received.some((m) => (m as HeartbeatRequest).commit === 9999), 'the marker after recovery');
    await waitFor(() => spy.statuses.length === 2, 'status change');
    expect(spy.statuses).toEqual([
      ['b', false],
      ['b', true],
    ]);
    expect(spy.warn.filter((m) => m.includes('reachable again'))).toHaveLength(1);
    const got = b.received.map((m) => (m as HeartbeatRequest).commit);
    // whatever survived the outage is among the newest 50 of the burst, in order, before the marker
    expect(got[got.length - 1]).toBe(9999);
    expect(got.slice(0, -1).every((c) => c >= 550 && c < 600)).toBe(true);
    expect(got.slice(0, -1)).toEqual([...got.slice(0, -1)].sort((x, y) => x - y));
    expect(t.peerStatus().b.reachable).toBe(true);
  });

  it('times out a request that gets no answer and marks the peer unreachable', async () => {
    const { b, t, spy } = await setup({}, { requestTimeoutMs: 100 });
    b.hold();
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => spy.statuses.length === 1, 'status change');
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn[0]).toMatch(/timeout after 100 ms/);
    b.release();
  });

  it('wrong secret: 401, the receiver never sees the messages, no secret in logs', async () => {
    const { b, t, spy } = await setup({ secret: 'the-other-secret' });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => spy.statuses.length === 1, 'status change');
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn[0]).toMatch(/HTTP 401 unauthorized .*cluster secret/);
    expect(b.received).toEqual([]);
    for (const line of [...spy.warn, ...spy.debug]) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain('the-other-secret');
    }
  });

  it('insecure mode on both ends works without headers', async () => {
    const { b, t } = await setup({ secret: null }, { secret: null });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'delivery');
  });

  it('drops a removed peer queue; skips unknown peers; never throws; ignores sends after close', async () => {
    const { b, t } = await setup();
    b.hold();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => b.held() === 1, 'first request');
    t.send(Array.from({ length: 10 }, (_, i) => hb('a', 'b', 1 + i)));
    t.setPeers({});
    expect(t.peerStatus()).toEqual({});
    b.release();
    t.setPeers({ b: b.url });
    t.send([hb('a', 'b', 500)]);
    await waitFor(() => b.received.some((m) => (m as HeartbeatRequest).commit === 500), 'marker');
    const got = b.received.map((m) => (m as HeartbeatRequest).commit);
    expect(got.filter((c) => c >= 1 && c <= 10)).toEqual([]);

    expect(() => t.send([hb('a', 'nobody', 1), null as unknown as Message, { type: 'bogus', to: 'b' } as unknown as Message])).not.toThrow();
    expect(() => t.send(undefined as unknown as Message[])).not.toThrow();
    expect(() => t.setPeers({ c: 'not a url', d: 'ftp://x' })).not.toThrow();
    await t.close();
    const n = b.requests.length;
    t.send([hb('a', 'b', 1)]);
    await tick();
    await tick();
    expect(b.requests.length).toBe(n);
  });
});

describe('peer request handler', () => {
  it('401 without a valid signature, and nothing is delivered', async () => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const body = encodeMessages([hb('a', 'b', 1)]);
    const noAuth = await rawRequest(b.port, { body, headers: { 'content-type': 'application/octet-stream' } });
    expect(noAuth.status).toBe(401);
    expect(JSON.parse(noAuth.body)).toEqual({ error: 'unauthorized', message: expect.any(String) });
    const wrong = await rawRequest(b.port, { body, headers: signed(body, '/raft/messages', 'nope') });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toBe(noAuth.body); // the answer does not tell which check failed
    const tampered = await rawRequest(b.port, { body: Buffer.concat([body, Buffer.from([0])]), headers: { ...signed(body), 'content-length': String(body.length + 1) } });
    expect(tampered.status).toBe(401);
    // a replay of an accepted request
    const h = signed(body);
    expect((await rawRequest(b.port, { body, headers: h })).status).toBe(204);
    expect((await rawRequest(b.port, { body, headers: h })).status).toBe(401);
    expect(b.received).toHaveLength(1);
  });

  it('413 beyond maxBodyBytes, declared or streamed', async () => {
    const b = await startPeer({ maxBodyBytes: 1000 });
    cleanups.push(() => b.close());
    const big = Buffer.alloc(5000, 1);
    const declared = await rawRequest(b.port, { body: big, headers: signed(big) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ error: 'payload_too_large', message: expect.stringContaining('1000') });
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(500, 2));
    const streamed = await rawRequest(b.port, { chunks, headers: signed(Buffer.concat(chunks)) });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error).toBe('payload_too_large');
    expect(b.received).toEqual([]);
  });

  it('413 reaches the sender as an unreachable peer', async () => {
    const { b, t, spy } = await setup({ maxBodyBytes: 1000 });
    t.send([{ type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: EntryType.Normal, data: Buffer.alloc(2000) }] }]);
    await waitFor(() => spy.statuses.length === 1, 'status change');
    expect(spy.warn[0]).toMatch(/HTTP 413 payload_too_large/);
    expect(b.received).toEqual([]);
  });

  it('400 on an undecodable (but authenticated) body, or a sender mismatch', async () => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const garbage = Buffer.from('definitely not a batch');
    const res = await rawRequest(b.port, { body: garbage, headers: signed(garbage) });
    expect(res.status).toBe(400);
    const j = JSON.parse(res.body);
    expect(j.error).toBe('bad_request');
    expect(j.message).toMatch(/bad magic/);
    const body = encodeMessages([hb('mallory', 'b', 1)]);
    const mismatch = await rawRequest(b.port, { body, headers: { ...signed(body), 'x-raft-from': 'a' } });
    expect(mismatch.status).toBe(400);
    expect(b.received).toEqual([]);
  });

  it('404 for unknown /raft/ paths, 405 for other methods, false outside /raft/', async () => {
    const b = await startPeer();
    cleanups.push(() => b.close());
    const nf = await rawRequest(b.port, { method: 'GET', path: '/raft/nothing' });
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body).error).toBe('not_found');
    const na = await rawRequest(b.port, { method: 'GET', path: '/raft/messages' });
    expect(na.status).toBe(405);
    expect(na.headers.allow).toBe('POST');
    const other = await rawRequest(b.port, { method: 'GET', path: '/raftx' });
    expect(other.body).toBe('not mine');
  });

  it('drops messages addressed to another node when selfId is set', async () => {
    const b = await startPeer({ selfId: 'b' });
    cleanups.push(() => b.close());
    const body = encodeMessages([hb('a', 'b', 1), hb('a', 'c', 2)]);
    expect((await rawRequest(b.port, { body, headers: signed(body) })).status).toBe(204);
    expect(b.received.map((m) => m.to)).toEqual(['b']);
  });
});

describe('mountPeerHandler', () => {
  it('runs the peer handler first and falls through to existing listeners', async () => {
    const delivered: Message[] = [];
    const handler: PeerRequestHandler = createPeerRequestHandler({ secret: null, maxBodyBytes: 1 << 20, onMessages: (m) => delivered.push(...m) });
    const appCalls: string[] = [];
    const server = http.createServer((req, res) => {
      appCalls.push(req.url ?? '');
      res.end('app');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const port = (server.address() as AddressInfo).port;

    const unmount = mountPeerHandler(server, handler);
    expect(server.listeners('request')).toHaveLength(1);
    expect((await rawRequest(port, { method: 'GET', path: '/hello' })).body).toBe('app');
    const body = encodeMessages([hb('a', 'b', 7)]);
    expect((await rawRequest(port, { body })).status).toBe(204);
    expect((await rawRequest(port, { method: 'GET', path: '/raft/x' })).status).toBe(404);
    expect(delivered).toHaveLength(1);
    expect(appCalls).toEqual(['/hello']);

    unmount();
    expect((await rawRequest(port, { body })).body).toBe('app');
    expect(appCalls).toEqual(['/hello', '/raft/messages']);
  });
});
