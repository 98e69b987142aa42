/**
 * Property-based fuzzing (fast-check) of the public and peer endpoints of real node processes on
 * loopback: three order-app nodes and one chat-app node. Every bad request must get a 4xx with a JSON
 * `{ error, message }` (peer endpoints: 401 without a valid signature, and a replayed signature is
 * refused), never a 5xx; after every property each node is still healthy and nothing changed: the
 * same products and orders on every node, the same commit index (no bad request reached the log).
 */
import fc from 'fast-check';
import { signPeerRequest } from '@raft-cqrs/raft/transport';
import { ProcessCluster } from '../support/process-cluster';
import { Answer, call, json } from './http';

jest.setTimeout(180_000);

const SECRET = 'fuzz-secret-0123456789';
const ADMIN = { authorization: `Bearer ${SECRET}` };
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const TIMING = { ELECTION_TIMEOUT_MS: '1000-2000', HEARTBEAT_MS: '100' };

let orders: ProcessCluster;
let chat: ProcessCluster;
let orderUrls: string[];
let chatUrl: string;
let baseline: { products: string; orders: string; commit: number[]; chatCommit: number; messages: string };
const seen5xx: string[] = [];
/**
 * Set by a test whose requests may legitimately go through the log: a cancel of a well-formed but
 * unknown order id is a business 404 decided in log order (the order could be in flight), so it is
 * an entry. Products and orders must still be unchanged; the commit index is re-based after it.
 */
let commitsAllowed = false;

async function snapshot(): Promise<typeof baseline> {
  const products = await Promise.all(orderUrls.map((u) => call(`${u}/products`, { timeoutMs: 5000 })));
  const ord = await Promise.all(orderUrls.map((u) => call(`${u}/orders`, { timeoutMs: 5000 })));
  const status = await Promise.all(orderUrls.map((u) => call(`${u}/cluster/status`, { timeoutMs: 5000 })));
  const chatStatus = await call(`${chatUrl}/cluster/status`, { timeoutMs: 5000 });
  const messages = await call(`${chatUrl}/api/v1/messages?limit=1000`, { timeoutMs: 5000 });
  for (const p of products) expect(p.body).toBe(products[0].body);
  for (const o of ord) expect(o.body).toBe(ord[0].body);
  return {
    products: products[0].body,
    orders: ord[0].body,
    commit: status.map((s) => json<{ commitIndex: number }>(s)?.commitIndex ?? -1),
    chatCommit: json<{ commitIndex: number }>(chatStatus)?.commitIndex ?? -1,
    messages: messages.body,
  };
}

/** Every node alive and healthy, and nothing changed since the baseline. */
async function expectUnchanged(): Promise<void> {
  for (const u of [...orderUrls, chatUrl]) {
    const live = await call(`${u}/health/live`, { timeoutMs: 3000 });
    expect(live.status).toBe(200);
  }
  const now = await snapshot();
  expect(now.products).toBe(baseline.products);
  expect(now.orders).toBe(baseline.orders);
  if (!commitsAllowed) expect(now.commit).toEqual(baseline.commit);
  expect(now.chatCommit).toBe(baseline.chatCommit);
  expect(now.messages).toBe(baseline.messages);
  expect(seen5xx).toEqual([]);
  baseline = now;
  commitsAllowed = false;
}

/** A 4xx with a JSON { error, message } of strings. */
function expectClientError(a: Answer, what: string, statuses?: number[]): void {
  if (a.status >= 500 || a.status === 0) seen5xx.push(`${what}: ${a.status || a.error} ${a.body.slice(0, 300)}`);
  const body = json(a);
  const shape = body !== null && typeof body.error === 'string' && typeof body.message === 'string';
  if (!(a.status >= 400 && a.status < 500 && shape && (statuses === undefined || statuses.includes(a.status)))) {
    throw new Error(`${what}: expected a 4xx${statuses ? ` (${statuses.join('/')})` : ''} with { error, message }, got ${a.status || a.error}: ${a.body.slice(0, 300)}`);
  }
}

const anyNode = fc.integer({ min: 0, max: 2 });

/** JSON values that are not valid for a field that wants an id string (1-128 of [A-Za-z0-9._:-]). */
const badId = fc.oneof(
  fc.integer(),
  // No NaN / Infinity: JSON.stringify turns them into null, which an optional id takes as absent.
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.constant(''),
  fc.string({ minLength: 129, maxLength: 400 }).map((s) => 'x'.repeat(129) + s),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^[A-Za-z0-9._:-]{1,128}$/.test(s)),
);
/** JSON values that are not an integer in [1, 1e6]. */
const badQuantity = fc.oneof(
  fc.integer({ max: 0 }),
  fc.integer({ min: 1_000_001 }),
  fc.double({ noInteger: true }),
  fc.constantFrom(1e300, -1e300, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1.5),
  fc.string({ maxLength: 10 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
);
const unknownFields = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['productId', 'quantity', 'customerId', 'stock', 'name', 'sender', 'payload', 'conv_id', 'msg_id', 'vector_clock', '__proto__'].includes(k)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
);
/** Raw bodies that are not JSON at all, or JSON cut short. */
const notJson = fc.oneof(
  fc.string({ minLength: 1, maxLength: 200 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
  fc
    .tuple(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ productId: 'fz-product', quantity: 1, extra: v })), fc.nat())
    .map(([s, n]) => s.slice(0, 1 + (n % (s.length - 1)))),
  fc.constantFrom('{', '{"productId":', '{"quantity": 1e400}x', '\u0000\u0001', '[1,2', '{"a":"\\ud800"'),
);

beforeAll(async () => {
  orders = await ProcessCluster.create({ size: 3, entry: 'apps/order/src/main.ts', secret: SECRET, env: TIMING });
  orders.startAll();
  chat = await ProcessCluster.create({ size: 1, entry: 'apps/chat/src/main.ts', secret: SECRET, env: { ...TIMING, CHAT_PUBLIC_DIR: '' } });
  chat.startAll();
  orderUrls = [...orders.members.keys()].map((id) => orders.url(id));
  chatUrl = chat.url('node1');
  await orders.waitForLeader(60_000);
  await chat.waitForLeader(60_000);
  // Some state to keep unchanged: a product with an order, and a chat message.
  const put = await call(`${orderUrls[0]}/products/fz-product`, { method: 'PUT', body: { stock: 5 }, timeoutMs: 10_000 });
  expect(put.status).toBe(200);
  const order = await call(`${orderUrls[1]}/orders`, { method: 'POST', body: { productId: 'fz-product', quantity: 2 }, timeoutMs: 10_000 });
  expect(order.status).toBe(201);
  const msg = await call(`${chatUrl}/api/v1/message`, { method: 'POST', body: { sender: 'fuzz', payload: 'hello', msg_id: 'fz-1' }, timeoutMs: 10_000 });
  expect(msg.status).toBe(201);
  // Let every node apply the writes before taking the baseline.
  for (let i = 0; i < 100; i++) {
    const s = await Promise.all(orderUrls.map((u) => call(`${u}/cluster/status`)));
    const st = s.map((a) => json<{ commitIndex: number; lastApplied: number }>(a));
    if (st.every((x) => x !== null && x.lastApplied === x.commitIndex && x.commitIndex === st[0]!.commitIndex)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  baseline = await snapshot();
});

afterAll(async () => {
  await orders?.stopAll();
  await chat?.stopAll();
});

afterEach(async () => {
  await expectUnchanged();
});

describe('order endpoints refuse bad input', () => {
  it('POST /orders with wrong types, bad values and unknown fields: 400', async () => {
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
      fc.record({ productId: badId, quantity: fc.integer({ min: 1, max: 3 }) }).chain((b) => unknownFields.map((u) => ({ ...u, ...b }))),
      fc.record({ productId: fc.constant('fz-product'), quantity: badQuantity }).chain((b) => unknownFields.map((u) => ({ ...u, ...b }))),
      fc.record({ productId: fc.constant('fz-product'), quantity: fc.constant(1), customerId: badId.filter((v) => v !== null && v !== '') }),
      unknownFields,
    );
    await fc.assert(
      fc.asyncProperty(anyNode, body, async (n, b) => {
        const a = await call(`${orderUrls[n]}/orders`, { method: 'POST', body: JSON.stringify(b), headers: { 'idempotency-key': `fz-${Math.random()}` } });
        expectClientError(a, `POST /orders ${JSON.stringify(b).slice(0, 200)}`, [400]);
      }),
      { numRuns: RUNS },
    );
  });

  it('PUT /products/:id with bad ids and bad stock: 400 (404 when the path no longer routes)', async () => {
    const badPathId = fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !/^[A-Za-z0-9._:-]{1,128}$/.test(s) && s !== '.' && s !== '..');
    const badStock = fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 1_000_000_001 }), fc.double({ noInteger: true }), fc.string(), fc.constant(null), fc.boolean(), fc.constantFrom(1e308, -0.5));
    const cases = fc.oneof(
      fc.record({ id: badPathId, body: fc.constant<unknown>({ stock: 1 }) }),
      fc.record({ id: fc.constant('fz-product'), body: fc.record({ stock: badStock }).chain((b) => unknownFields.map((u) => ({ ...u, ...b }))) }),
      fc.record({ id: fc.constant('fz-product'), body: fc.record({ stock: fc.constant(3), name: fc.oneof(fc.integer(), fc.string({ minLength: 201, maxLength: 400 }), fc.array(fc.string())) }) }),
    );
    await fc.assert(
      fc.asyncProperty(anyNode, cases, async (n, c) => {
        const a = await call(`${orderUrls[n]}/products/${encodeURIComponent(c.id)}`, { method: 'PUT', body: JSON.stringify(c.body) });
        expectClientError(a, `PUT /products/${c.id.slice(0, 50)} ${JSON.stringify(c.body).slice(0, 200)}`, [400, 404]);
      }),
      { numRuns: RUNS },
    );
  });

  it('malformed and truncated JSON, wrong content types: 400 / 415', async () => {
    const target = fc.constantFrom('POST /orders', 'PUT /products/fz-product');
    const ctype = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded');
    await fc.assert(
      fc.asyncProperty(anyNode, target, notJson, ctype, async (n, t, raw, ct) => {
        const [method, path] = t.split(' ');
        const a = await call(`${orderUrls[n]}${path}`, { method, body: raw, headers: { 'content-type': ct } });
        expectClientError(a, `${t} [${ct}] ${JSON.stringify(raw).slice(0, 120)}`, [400, 415]);
      }),
      { numRuns: RUNS },
    );
  });

  it('oversized bodies: 413', async () => {
    await fc.assert(
      fc.asyncProperty(anyNode, fc.integer({ min: 150_000, max: 3_000_000 }), fc.constantFrom('/orders', '/products/fz-product'), async (n, size, path) => {
        const raw = JSON.stringify({ productId: 'fz-product', quantity: 1, stock: 1, pad: 'x'.repeat(size) });
        const a = await call(`${orderUrls[n]}${path}`, { method: path === '/orders' ? 'POST' : 'PUT', body: raw, timeoutMs: 10_000 });
        expectClientError(a, `${path} with ${raw.length} bytes`, [413]);
      }),
      { numRuns: Math.min(RUNS, 40) },
    );
  });

  it('GET /orders/:id, GET /orders?productId=, cancel of unknown or bad ids: 400 / 404', async () => {
    commitsAllowed = true; // cancels of well-formed unknown ids are decided in the log (see above)
    // "." and ".." are resolved away by the URL ("/orders/." is "/orders/"): not an id at all.
    const id = fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.uuid()).filter((s) => s !== '.' && s !== '..');
    const kind = fc.constantFrom('get', 'list', 'cancel', 'consistency');
    await fc.assert(
      fc.asyncProperty(anyNode, kind, id, async (n, k, raw) => {
        const e = encodeURIComponent(raw);
        let a: Answer;
        if (k === 'get') a = await call(`${orderUrls[n]}/orders/${e}`);
        else if (k === 'cancel') a = await call(`${orderUrls[n]}/orders/${e}/cancel`, { method: 'POST', body: {} });
        else if (k === 'consistency') a = await call(`${orderUrls[n]}/products/fz-product?consistency=${e}`);
        else {
          if (/^[A-Za-z0-9._:-]{1,128}$/.test(raw)) return; // a valid filter: 200 with no match, not an error
          a = await call(`${orderUrls[n]}/orders?productId=${e}`);
        }
        if (k === 'consistency' && (raw === 'linearizable' || raw === 'local')) return;
        if (a.status === 404 && k !== 'list' && k !== 'consistency') {
          expectClientError(a, `${k} ${raw}`, [404]);
          return;
        }
        expectClientError(a, `${k} ${raw.slice(0, 80)}`, [400, 404]);
      }),
      { numRuns: RUNS },
    );
  });

  it('cluster endpoints: bad member bodies and ids, bad transfer targets: 400', async () => {
    const kinds = fc.oneof(
      fc.record({ k: fc.constant('add'), body: fc.oneof(fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), fc.record({ id: badId, url: fc.constant('http://127.0.0.1:1') }), fc.record({ id: fc.constant('fz-new'), url: fc.oneof(fc.string({ maxLength: 40 }).filter((s) => !/^https?:\/\//.test(s)), fc.integer(), fc.constant(null)) }), fc.record({ id: fc.constant('fz-new'), url: fc.constant('http://127.0.0.1:1'), voter: fc.oneof(fc.constant(false), fc.string(), fc.integer()) })) }),
      fc.record({ k: fc.constant('transfer'), body: fc.oneof(fc.record({ to: badId.filter((v) => v !== null) }), fc.array(fc.integer(), { minLength: 1, maxLength: 3 }), fc.constant('x')) }),
      fc.record({ k: fc.constant('delete'), body: fc.string({ minLength: 65, maxLength: 100 }).map((s) => 'n'.repeat(65) + s) }),
    );
    await fc.assert(
      fc.asyncProperty(anyNode, kinds, async (n, c) => {
        let a: Answer;
        if (c.k === 'add') a = await call(`${orderUrls[n]}/cluster/members`, { method: 'POST', headers: ADMIN, body: JSON.stringify(c.body) });
        else if (c.k === 'transfer') a = await call(`${orderUrls[n]}/cluster/leadership-transfer`, { method: 'POST', headers: ADMIN, body: JSON.stringify(c.body) });
        else a = await call(`${orderUrls[n]}/cluster/members/${encodeURIComponent(String(c.body))}`, { method: 'DELETE', headers: ADMIN });
        expectClientError(a, `${c.k} ${JSON.stringify(c.body).slice(0, 120)}`, [400]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('chat endpoints refuse bad input', () => {
  it('POST /api/v1/message with bad fields and unknown fields: 400; oversized: 413', async () => {
    const badName = fc.oneof(fc.integer(), fc.constant(''), fc.constant(null), fc.boolean(), fc.string({ minLength: 129, maxLength: 300 }).map((s) => 'a'.repeat(129) + s));
    const badClock = fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer(), { minLength: 1 }), fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.string()), { minKeys: 1, maxKeys: 3 }));
    const body = fc.oneof(
      fc.record({ sender: badName, payload: fc.string() }),
      fc.record({ sender: fc.constant('fz'), payload: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string()), fc.object()) }),
      fc.record({ sender: fc.constant('fz'), payload: fc.constant('x'), vector_clock: badClock }),
      fc.record({ sender: fc.constant('fz'), payload: fc.constant('x'), msg_id: badId.filter((v) => v !== null) }),
      fc.record({ sender: fc.constant('fz'), payload: fc.constant('x'), conv_id: badName.filter((v) => v !== null) }),
      fc.record({ sender: fc.constant('fz'), payload: fc.integer({ min: 65_537, max: 200_000 }).map((n) => 'p'.repeat(n)) }),
      unknownFields,
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const a = await call(`${chatUrl}/api/v1/message`, { method: 'POST', body: JSON.stringify(b) });
        expectClientError(a, `POST /api/v1/message ${JSON.stringify(b).slice(0, 200)}`, [400]);
      }),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 600_000, max: 2_000_000 }), fc.boolean(), async (size, truncate) => {
        const raw = JSON.stringify({ sender: 'fz', payload: 'q'.repeat(size) });
        const a = await call(`${chatUrl}/api/v1/message`, { method: 'POST', body: truncate ? raw.slice(0, -2) : raw, timeoutMs: 10_000 });
        expectClientError(a, `POST /api/v1/message of ${raw.length} bytes`, [413]);
      }),
      { numRuns: Math.min(RUNS, 20) },
    );
    await fc.assert(
      fc.asyncProperty(notJson, async (raw) => {
        const a = await call(`${chatUrl}/api/v1/message`, { method: 'POST', body: raw });
        expectClientError(a, `POST /api/v1/message raw ${JSON.stringify(raw).slice(0, 120)}`, [400]);
      }),
      { numRuns: RUNS },
    );
  });

  it('GET /api/v1/messages and /api/v1/stream with bad from / limit / Last-Event-ID: 400', async () => {
    const bad = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !/^\d{1,15}$/.test(s.trim()) && s.trim() !== ''), fc.constantFrom('-1', '1e3', '0x10', '9999999999999999', '1.5'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('from', 'limit', 'stream-from', 'last-event-id'), bad, async (k, v) => {
        let a: Answer;
        if (k === 'from' || k === 'limit') a = await call(`${chatUrl}/api/v1/messages?${k}=${encodeURIComponent(v)}`);
        else if (k === 'stream-from') a = await call(`${chatUrl}/api/v1/stream?from=${encodeURIComponent(v)}`);
        else {
          // Header values must be latin-1 printable for node:http; others cannot be sent at all.
          if (!/^[\x20-\x7e]*$/.test(v)) return;
          a = await call(`${chatUrl}/api/v1/stream`, { headers: { 'last-event-id': v } });
        }
        expectClientError(a, `${k}=${JSON.stringify(v)}`, [400]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('peer endpoints', () => {
  const paths = fc.constantFrom('/raft/messages', '/raft/stream', '/raft/command');
  const bytes = fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b));

  function send(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
    return call(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers }, timeoutMs: 5000 });
  }

  it('without a valid signature: 401, whatever the headers and body', async () => {
    const headers = fc.record(
      {
        'x-raft-timestamp': fc.oneof(fc.constant(String(Date.now())), fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), fc.constant(String(Date.now() - 120_000))),
        'x-raft-nonce': fc.oneof(fc.base64String({ minLength: 16, maxLength: 30 }).map((s) => s.replace(/[+/=]/g, 'A')), fc.string({ maxLength: 10 }).filter((s) => /^[\x20-\x7e]*$/.test(s))),
        'x-raft-signature': fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), fc.string({ maxLength: 70 }).filter((s) => /^[\x20-\x7e]*$/.test(s))),
        'x-raft-from': fc.constantFrom('node1', 'node2', 'evil'),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(anyNode, paths, headers, bytes, async (n, path, h, body) => {
        const a = await send(orderUrls[n], path, body, h as Record<string, string>);
        expectClientError(a, `${path} ${JSON.stringify(h)}`, [401]);
      }),
      { numRuns: RUNS },
    );
  });

  it('a signature for another body, path or time: 401', async () => {
    await fc.assert(
      fc.asyncProperty(anyNode, paths, bytes, bytes, fc.constantFrom('body', 'path', 'time'), async (n, path, signed, sent, what) => {
        if (what === 'body' && signed.equals(sent)) return;
        // The stream's signature covers no body (its frames carry MACs): "another body" does not apply.
        if (what === 'body' && path === '/raft/stream') return;
        const signedPath = what === 'path' ? (path === '/raft/messages' ? '/raft/command' : '/raft/messages') : path;
        const at = what === 'time' ? Date.now() - 10 * 60_000 : Date.now();
        const h = signPeerRequest(SECRET, 'POST', signedPath, path === '/raft/stream' && what !== 'body' ? Buffer.alloc(0) : signed, at);
        const a = await send(orderUrls[n], path, what === 'body' ? sent : signed, { ...h, 'x-raft-from': 'node1' });
        expectClientError(a, `${path} signed for another ${what}`, [401]);
      }),
      { numRuns: RUNS },
    );
  });

  it('validly signed garbage and unknown commands: 4xx, and the same request replayed: 401', async () => {
    const commandBody = fc.oneof(
      bytes,
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
      fc.record({ k: fc.constantFrom('cmd', 'batch', 'evt', 'nope'), n: fc.constantFrom('orders.nope', 'x', ''), p: fc.jsonValue({ maxDepth: 1 }), r: fc.string({ maxLength: 8 }), h: fc.string({ maxLength: 8 }) }).map((v) => Buffer.from(JSON.stringify(v))),
    );
    await fc.assert(
      fc.asyncProperty(anyNode, fc.constantFrom('/raft/messages', '/raft/command', '/raft/stream'), commandBody, async (n, path, body) => {
        // The stream's signature covers no body: its frames carry their own MACs, and garbage frames are refused.
        const h = { ...signPeerRequest(SECRET, 'POST', path, path === '/raft/stream' ? Buffer.alloc(0) : body, Date.now()), 'x-raft-from': 'node1' };
        const first = await send(orderUrls[n], path, body.length === 0 && path === '/raft/stream' ? Buffer.from([0, 0, 0, 9, 1]) : body, h);
        // /raft/messages may take an empty batch (204); everything else here must be refused.
        if (!(path === '/raft/messages' && first.status === 204 && body.length === 0)) {
          expectClientError(first, `signed garbage to ${path} (${body.length} bytes: ${body.toString('utf8').slice(0, 80)})`);
          if (path === '/raft/command') {
            const err = json(first)?.error;
            if (err === 'not_leader') return; // a follower refuses before looking at the command: fine
          }
        }
        const replay = await send(orderUrls[n], path, body, h);
        expectClientError(replay, `replay to ${path}`, [401]);
      }),
      { numRuns: RUNS },
    );
  });
});
