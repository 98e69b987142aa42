import { HttpResult, NodeStatus, ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * The order app (apps/order) as three real node processes: stock is never oversold whichever node
 * takes an order, every node ends with the same orders, and clients that retry with the same
 * Idempotency-Key through a SIGKILL of the leader create each order at most once.
 */
jest.setTimeout(90_000);

const ENTRY = 'apps/order/src/main.ts';
const NODES = ['node1', 'node2', 'node3'];
const ORDERS = 300;
const STOCK = 100;

interface ProductBody {
  id: string;
  name: string;
  stock: number;
  reserved: number;
}

interface OrderBody {
  orderId: string;
  status: string;
  productId: string;
  quantity: number;
  customerId: string | null;
  index: number;
}

interface OrderRun {
  /** Final answer per client: 201 or 409 out_of_stock, or whatever else ended the client. */
  answers: { key: string; customerId: string; result: HttpResult }[];
  retried503: number;
  networkErrors: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isRetryable(r: HttpResult): boolean {
  if (r.status === 503) return true;
  // Not expected (followers forward commands), but a client would retry it too.
  return r.status === 409 && r.json<{ error?: string }>().error === 'not_leader';
}

/**
 * Orders one unit as a client would: starts on `first`, and on a 503 or a network error tries the next
 * node after a short pause, always with the same Idempotency-Key, until it gets an answer that is final.
 */
async function orderOne(
  cluster: ProcessCluster,
  run: OrderRun,
  productId: string,
  key: string,
  customerId: string,
  first: number,
  onAnswer: (r: HttpResult) => void,
): Promise<void> {
  const deadline = Date.now() + 45_000;
  for (let attempt = 0; ; attempt++) {
    const node = NODES[(first + attempt) % NODES.length];
    try {
      const r = await request(`${cluster.url(node)}/orders`, {
        method: 'POST',
        body: { productId, quantity: 1, customerId },
        headers: { 'Idempotency-Key': key },
        timeoutMs: 8000,
      });
      if (!isRetryable(r)) {
        run.answers.push({ key, customerId, result: r });
        onAnswer(r);
        return;
      }
      run.retried503++;
    } catch (_err) {
      run.networkErrors++;
    }
    if (Date.now() > deadline) throw new Error(`order ${key} got no final answer before the deadline`);
    await sleep(Math.min(50 + attempt * 25, 250));
  }
}

/** Places `ORDERS` concurrent orders of one unit, spread evenly over the three nodes. */
async function placeOrders(cluster: ProcessCluster, productId: string, onAnswer: (r: HttpResult) => void = () => undefined): Promise<OrderRun> {
  const run: OrderRun = { answers: [], retried503: 0, networkErrors: 0 };
  await Promise.all(
    Array.from({ length: ORDERS }, (_, i) => orderOne(cluster, run, productId, `${productId}-order-${i}`, `${productId}-customer-${i}`, i % NODES.length, onAnswer)),
  );
  return run;
}

let requestCount = 0;

/**
 * One request to one node as a careful client sends it: with an Idempotency-Key (its own unless
 * given), retried with that key on a 503 or a network error, so an election that happens to fall
 * in the middle of a test changes nothing but the time it takes.
 */
async function send(url: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<HttpResult> {
  const key = init.key ?? `e2e-request-${++requestCount}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await request(url, { method: init.method, body: init.body, headers: { 'Idempotency-Key': key }, timeoutMs: 8000 });
      if (!isRetryable(r) || Date.now() > deadline) return r;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(100);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const r = await send(url);
  if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status} ${r.body}`);
  return r.json<T>();
}

/** A node's product and its orders, read through a ReadIndex barrier so they include every committed order. */
async function nodeView(cluster: ProcessCluster, node: string, productId: string): Promise<{ product: ProductBody; orders: OrderBody[] }> {
  const product = await getJson<ProductBody>(`${cluster.url(node)}/products/${productId}?consistency=linearizable`);
  const { orders } = await getJson<{ orders: OrderBody[] }>(`${cluster.url(node)}/orders?productId=${productId}&consistency=linearizable`);
  return { product, orders };
}

/**
 * The checks both runs share: exactly STOCK orders answered 201, the rest 409 out_of_stock; every node
 * shows stock 0 with STOCK reserved and the very orders the clients were given, once each, in one order.
 */
async function expectSoldOutEverywhere(cluster: ProcessCluster, run: OrderRun, productId: string, nodes: string[]): Promise<void> {
  const unexpected = run.answers.filter((a) => a.result.status !== 201 && a.result.status !== 409);
  expect(unexpected.map((a) => `${a.key}: ${a.result.status} ${a.result.body}`)).toEqual([]);
  const created = run.answers.filter((a) => a.result.status === 201);
  const refused = run.answers.filter((a) => a.result.status === 409);
  expect(created).toHaveLength(STOCK);
  expect(refused).toHaveLength(ORDERS - STOCK);
  for (const a of refused) expect(a.result.json()).toMatchObject({ error: 'out_of_stock', productId });
  for (const a of created) expect(a.result.json()).toMatchObject({ status: 'Created', productId, quantity: 1, customerId: a.customerId });
  const answeredIds = created.map((a) => a.result.json<OrderBody>().orderId).sort();
  expect(new Set(answeredIds).size).toBe(STOCK);

  const views = await Promise.all(nodes.map((node) => nodeView(cluster, node, productId)));
  for (const [i, view] of views.entries()) {
    expect({ node: nodes[i], ...view.product }).toEqual({ node: nodes[i], id: productId, name: expect.any(String), stock: 0, reserved: STOCK });
    expect(view.orders.map((o) => o.orderId).sort()).toEqual(answeredIds);
    // One order per client: a command applied twice would show as a second order of one customer.
    expect(new Set(view.orders.map((o) => o.customerId)).size).toBe(STOCK);
    expect(view.orders).toEqual(views[0].orders);
  }
}

/**
 * The bridge compares each replica's state digest with the leader's every COMPACTION_THRESHOLD
 * entries: a handler that was not deterministic would show here, even if the orders looked right.
 */
async function expectNoDivergence(cluster: ProcessCluster, nodes: string[]): Promise<void> {
  const statuses = await Promise.all(nodes.map((node) => getJson<NodeStatus>(`${cluster.url(node)}/cluster/status`)));
  for (const [i, s] of statuses.entries()) {
    expect({ node: nodes[i], mismatches: s.stateDigest?.mismatches ?? 0 }).toEqual({ node: nodes[i], mismatches: 0 });
    expect(cluster.output(nodes[i])).not.toContain('REPLICA DIVERGED');
  }
  if (statuses.some((s) => s.stateDigest)) expect(statuses.reduce((n, s) => n + (s.stateDigest?.matches ?? 0), 0)).toBeGreaterThan(0);
}

async function withOutputs<T>(cluster: ProcessCluster, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const tails = NODES.map((id) => `--- ${id} output (tail) ---\n${cluster.output(id).slice(-3000)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${tails}`);
  }
}

describe('order app: a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;

  beforeAll(async () => {
    cluster = await ProcessCluster.create({
      size: 3,
      entry: ENTRY,
      secret: 'order-e2e-secret',
      // Snapshots during the run, so the node restarted at the end may catch up from one.
      env: { COMPACTION_THRESHOLD: '200', ELECTION_TIMEOUT_MS: '300-600', HEARTBEAT_MS: '50' },
    });
    cluster.startAll();
    await withOutputs(cluster, () => cluster.waitForLeader(40_000));
  });

  afterAll(async () => {
    await cluster?.stopAll();
  });

  const follower = async (): Promise<string> => {
    const { leaderId } = await cluster.waitForLeader();
    return NODES.find((id) => id !== leaderId)!;
  };

  it('sets stock through a follower and every node serves the product', async () => {
    const via = await follower();
    const r = await send(`${cluster.url(via)}/products/p1`, { method: 'PUT', body: { name: 'Widget', stock: STOCK } });
    expect({ status: r.status, body: r.json() }).toEqual({ status: 200, body: { id: 'p1', name: 'Widget', stock: STOCK, reserved: 0 } });
    for (const node of NODES) {
      expect(await getJson(`${cluster.url(node)}/products/p1?consistency=linearizable`)).toEqual({ id: 'p1', name: 'Widget', stock: STOCK, reserved: 0 });
    }
  });

  it('answers bad input with 400 naming the field (an oversized body 413) and changes nothing', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const via = await follower();
    const before = await getJson<NodeStatus>(`${cluster.url(leaderId)}/cluster/status`);
    const cases: { method: string; path: string; body: unknown; field: string }[] = [
      { method: 'POST', path: '/orders', body: { productId: 'p1', quantity: 0 }, field: 'quantity' },
      { method: 'POST', path: '/orders', body: { productId: 'p1', quantity: '1' }, field: 'quantity' },
      { method: 'POST', path: '/orders', body: { productId: 'bad id', quantity: 1 }, field: 'productId' },
      { method: 'POST', path: '/orders', body: { productId: 'p1', quantity: 1, customerId: 'x'.repeat(129) }, field: 'customerId' },
      { method: 'POST', path: '/orders', body: [1], field: 'body' },
      { method: 'PUT', path: '/products/p1', body: { stock: -1 }, field: 'stock' },
      { method: 'PUT', path: '/products/p1', body: { stock: 5, name: 'n'.repeat(201) }, field: 'name' },
      { method: 'PUT', path: '/products/bad%20id', body: { stock: 5 }, field: 'id' },
    ];
    for (const c of cases) {
      const r = await send(`${cluster.url(via)}${c.path}`, { method: c.method, body: c.body });
      expect({ case: c, status: r.status, body: r.json() }).toEqual({ case: c, status: 400, body: expect.objectContaining({ error: 'bad_request', field: c.field }) });
    }
    const malformed = await send(`${cluster.url(via)}/orders`, { method: 'POST', body: '{"productId": "p1", ' });
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toMatchObject({ error: 'bad_request' });
    const oversized = await send(`${cluster.url(via)}/orders`, { method: 'POST', body: { productId: 'p1', quantity: 1, padding: 'x'.repeat(200_000) } });
    expect({ status: oversized.status, body: oversized.json() }).toEqual({ status: 413, body: expect.objectContaining({ error: 'payload_too_large' }) });

    const after = await getJson<NodeStatus>(`${cluster.url(leaderId)}/cluster/status`);
    // Nothing was proposed (the log grows only with a new term's no-op, which a stable leader does not add).
    if (after.term === before.term) expect(after.lastLogIndex).toBe(before.lastLogIndex);
    expect(await getJson(`${cluster.url(leaderId)}/products/p1?consistency=linearizable`)).toEqual({ id: 'p1', name: 'Widget', stock: STOCK, reserved: 0 });
    expect(await getJson(`${cluster.url(leaderId)}/orders?consistency=linearizable`)).toMatchObject({ orders: [], count: 0 });
  });

  it('answers 404 for an unknown product or order, from any node', async () => {
    for (const node of NODES) {
      const order = await send(`${cluster.url(node)}/orders`, { method: 'POST', body: { productId: 'no-such-product', quantity: 1 } });
      expect({ status: order.status, body: order.json() }).toEqual({ status: 404, body: expect.objectContaining({ error: 'not_found' }) });
      expect((await send(`${cluster.url(node)}/products/no-such-product`)).status).toBe(404);
      expect((await send(`${cluster.url(node)}/orders/no-such-order`)).status).toBe(404);
      expect((await send(`${cluster.url(node)}/orders/no-such-order/cancel`, { method: 'POST' })).status).toBe(404);
    }
  });

  it(`sells exactly ${STOCK} of ${ORDERS} concurrent orders spread over the three nodes, and every node agrees`, async () => {
    const run = await withOutputs(cluster, () => placeOrders(cluster, 'p1'));
    await withOutputs(cluster, () => expectSoldOutEverywhere(cluster, run, 'p1', NODES));
    await expectNoDivergence(cluster, NODES);
    // Filters and single reads agree with the list.
    const one = run.answers.find((a) => a.result.status === 201)!;
    const order = one.result.json<OrderBody>();
    for (const node of NODES) {
      expect(await getJson(`${cluster.url(node)}/orders/${order.orderId}?consistency=linearizable`)).toEqual(order);
      expect(await getJson(`${cluster.url(node)}/orders?customerId=${one.customerId}&consistency=linearizable`)).toEqual({ orders: [order], count: 1 });
    }
  });

  it('a cancel returns the units to stock on every node; a repeated request id gets the first answer; a second cancel is 409', async () => {
    const { orders } = await getJson<{ orders: OrderBody[] }>(`${cluster.url('node1')}/orders?productId=p1&consistency=linearizable`);
    const target = orders[0];
    const via = await follower();
    const key = 'cancel-once';
    const first = await send(`${cluster.url(via)}/orders/${target.orderId}/cancel`, { method: 'POST', key });
    expect({ status: first.status, body: first.json() }).toEqual({ status: 200, body: expect.objectContaining({ orderId: target.orderId, status: 'Cancelled' }) });
    const retried = await send(`${cluster.url('node3')}/orders/${target.orderId}/cancel`, { method: 'POST', key });
    expect({ status: retried.status, body: retried.json() }).toEqual({ status: 200, body: first.json() });
    const again = await send(`${cluster.url(via)}/orders/${target.orderId}/cancel`, { method: 'POST' });
    expect({ status: again.status, body: again.json() }).toEqual({ status: 409, body: expect.objectContaining({ error: 'already_cancelled' }) });
    for (const node of NODES) {
      expect(await getJson(`${cluster.url(node)}/products/p1?consistency=linearizable`)).toMatchObject({ stock: 1, reserved: STOCK - 1 });
      expect(await getJson(`${cluster.url(node)}/orders/${target.orderId}?consistency=linearizable`)).toMatchObject({ status: 'Cancelled' });
    }
  });

  it('still sells exactly once per order when the leader is SIGKILLed half way and clients retry with the same Idempotency-Key', async () => {
    const via = await follower();
    expect((await send(`${cluster.url(via)}/products/p2`, { method: 'PUT', body: { name: 'Gadget', stock: STOCK } })).status).toBe(200);
    const { leaderId } = await cluster.waitForLeader();
    let created = 0;
    let kill: Promise<void> | undefined;
    const run = await withOutputs(cluster, () =>
      placeOrders(cluster, 'p2', (r) => {
        if (r.status === 201) created++;
        // Half the stock sold: the rest has to be sold across the failover.
        if (created === STOCK / 2 && kill === undefined) kill = cluster.kill(leaderId, 'SIGKILL');
      }),
    );
    await kill;
    expect(kill).toBeDefined();
    const survivors = NODES.filter((id) => id !== leaderId);
    const next = await cluster.waitForLeader(20_000, survivors);
    expect(next.leaderId).not.toBe(leaderId);
    await withOutputs(cluster, () => expectSoldOutEverywhere(cluster, run, 'p2', survivors));
    // The clients had to get past the failover somehow; how many retries it took depends on timing.
    expect(run.retried503 + run.networkErrors).toBeGreaterThan(0);

    // The killed leader comes back from its data folder (and perhaps a snapshot) with the same state.
    cluster.start(leaderId);
    const expected = await nodeView(cluster, next.leaderId, 'p2');
    await withOutputs(cluster, () =>
      waitFor(
        `${leaderId} to catch up`,
        async () => JSON.stringify(await nodeView(cluster, leaderId, 'p2')) === JSON.stringify(expected),
        30_000,
        200,
      ),
    );
    expect(await getJson(`${cluster.url(leaderId)}/products/p1`)).toMatchObject({ stock: 1, reserved: STOCK - 1 });
    await expectNoDivergence(cluster, NODES);
  });
});
