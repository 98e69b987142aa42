import { LiveQueryValue } from '@raft-cqrs/raft-cluster';
import { Subscription } from 'rxjs';
import type { Product } from '../src/domain/product';
import { GetProductQuery } from '../src/products/get-product/get-product.query';
import { OrderNode, QuietLogger, request, startNode, waitFor, freePort } from './order-cluster';
import { SseClient } from './sse-client';

/*
 * Live queries of the order app on a real three-node cluster in this process, over HTTP: a stream
 * on a follower follows the leader's stock changes in index order; many subscribers cost one
 * evaluation per distinct query; the streams end at shutdown. Nothing here asserts a duration.
 */

jest.setTimeout(90_000);

describe('order app: live queries on a 3-node cluster', () => {
  const logger = new QuietLogger();
  const nodes: OrderNode[] = [];
  const clients: SseClient[] = [];
  let leader: OrderNode;
  let follower: OrderNode;

  const putStock = async (id: string, stock: number): Promise<void> => {
    const r = await request(`${leader.url}/products/${id}`, 'PUT', { stock });
    expect(r.status).toBe(200);
  };
  const open = async (url: string, headers?: Record<string, string>): Promise<SseClient> => {
    const c = await SseClient.open(url, headers);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const members = ports.map((p, i) => `l${i + 1}=http://127.0.0.1:${p}`);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(`l${i + 1}`, ports[i], members, logger));
    await waitFor('a leader', () => nodes.some((n) => n.cluster.isLeader));
    leader = nodes.find((n) => n.cluster.isLeader)!;
    follower = nodes.find((n) => n !== leader)!;
    await waitFor('the followers to know the leader', () => nodes.every((n) => n.cluster.leaderId === leader.id));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.app.close().catch(() => undefined)));
  });

  it('a stream on a follower sees every stock change made on the leader, in index order, ending at the final stock', async () => {
    await putStock('apple', 50);
    await waitFor('the follower to have the product', async () => (await request(`${follower.url}/products/apple`)).status === 200);
    const stream = await open(`${follower.url}/products/apple`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers.vary).toMatch(/Accept/i);
    await waitFor('the current value', () => stream.products().length === 1);
    expect(stream.products()[0].product).toEqual({ id: 'apple', name: 'apple', stock: 50, reserved: 0 });

    const stocks = [49, 40, 41, 7, 0, 12, 30];
    for (const stock of stocks) {
      await putStock('apple', stock);
      // Each change is awaited on the stream before the next one, so each one is observable.
      await waitFor(`stock ${stock} on the follower's stream`, () => stream.products().at(-1)?.product.stock === stock);
    }
    // An order reserves units: a change of the same product by another command.
    const order = await request(`${leader.url}/orders`, 'POST', { productId: 'apple', quantity: 5 });
    expect(order.status).toBe(201);
    await waitFor('the reservation on the stream', () => stream.products().at(-1)?.product.stock === 25);

    const seen = stream.products();
    expect(seen.map((s) => s.product.stock)).toEqual([50, ...stocks, 25]);
    expect(seen.at(-1)!.product).toEqual({ id: 'apple', name: 'apple', stock: 25, reserved: 5 });
    for (let i = 1; i < seen.length; i++) expect(seen[i].index).toBeGreaterThan(seen[i - 1].index);
    // Each value's id is an index the follower had applied, up to its current one.
    expect(seen.at(-1)!.index).toBeLessThanOrEqual(follower.cluster.appliedIndex);
    // The same route without the Accept header answers JSON, as before.
    const json = await request(`${follower.url}/products/apple`);
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.headers.vary).toMatch(/Accept/i);
    expect(json.body).toEqual({ id: 'apple', name: 'apple', stock: 25, reserved: 5 });
  });

  it('answers the ordinary HTTP error before the first value: 404 for an unknown product or order, 400 for a bad id', async () => {
    const missing = await open(`${follower.url}/products/no-such-product`);
    await waitFor('the answer to end', () => missing.ended);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'not_found', productId: 'no-such-product' });
    const noOrder = await open(`${follower.url}/orders/no-such-order`);
    await waitFor('the answer to end', () => noOrder.ended);
    expect(noOrder.status).toBe(404);
    const bad = await open(`${follower.url}/products/${encodeURIComponent('bad id!')}`);
    await waitFor('the answer to end', () => bad.ended);
    expect(bad.status).toBe(400);
    expect(follower.live.stats().queries).toBeLessThanOrEqual(1); // only the apple stream of the first test is left
  });

  it('an order is a live query too', async () => {
    await putStock('pear', 10);
    const order = await request(`${leader.url}/orders`, 'POST', { productId: 'pear', quantity: 2 });
    expect(order.status).toBe(201);
    const id = order.body.orderId as string;
    await waitFor('the follower to have the order', async () => (await request(`${follower.url}/orders/${id}`)).status === 200);
    const stream = await open(`${follower.url}/orders/${id}`);
    await waitFor('the order', () => stream.events.length === 1);
    expect(JSON.parse(stream.events[0].data)).toMatchObject({ orderId: id, status: 'Created' });
    expect((await request(`${leader.url}/orders/${id}/cancel`, 'POST')).status).toBe(200);
    await waitFor('the cancellation', () => stream.events.length === 2);
    expect(JSON.parse(stream.events[1].data)).toMatchObject({ orderId: id, status: 'Cancelled' });
    expect(Number(stream.events[1].id)).toBeGreaterThan(Number(stream.events[0].id));
  });

  it('resumes with Last-Event-ID: the first event only when it is newer than what the client has', async () => {
    await putStock('plum', 3);
    await waitFor('the follower to have the product', async () => (await request(`${follower.url}/products/plum`)).status === 200);
    const first = await open(`${follower.url}/products/plum`);
    await waitFor('the current value', () => first.events.length === 1);
    const last = Number(first.events[0].id);
    first.close();

    // Nothing changed since: a client that has index `last` gets no repeat, then the next change.
    const resumed = await open(`${follower.url}/products/plum`, { 'Last-Event-ID': String(last) });
    expect(resumed.status).toBe(200);
    // A client with an older value gets the current one at once.
    const older = await open(`${follower.url}/products/plum`, { 'Last-Event-ID': String(last - 1) });
    await waitFor('the current value for an older client', () => older.events.length === 1);
    expect(older.events[0].data).toBe(first.events[0].data);
    expect(Number(older.events[0].id)).toBeGreaterThanOrEqual(last);
    await putStock('plum', 4);
    await waitFor('the change on the resumed stream', () => resumed.products().at(-1)?.product.stock === 4);
    // The resumed stream repeats the value the client has only if this node applied entries since (the
    // cluster's own entries, digests, may land in between): then under a newer id. Never an older one.
    const values = resumed.products();
    expect(values.length).toBeLessThanOrEqual(2);
    if (values.length === 2) expect(values[0].product.stock).toBe(3);
    expect(values.every((v) => v.index > last)).toBe(true);
    // A malformed Last-Event-ID is ignored: the current value comes first.
    const junk = await open(`${follower.url}/products/plum`, { 'Last-Event-ID': 'not-a-number' });
    await waitFor('the current value', () => junk.events.length === 1);
  });

  it('1,000 watch() subscribers and 100 event streams on one node: one evaluation per distinct query per round, at most one value waiting per client', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `bulk-${i}`);
    for (const id of ids) await putStock(id, 100);
    await waitFor('the follower to have them', async () => (await request(`${follower.url}/products/bulk-9`)).status === 200);
    const before = follower.live.stats();

    const latest = new Map<number, LiveQueryValue<Product>>();
    const subs: Subscription[] = [];
    for (let i = 0; i < 1000; i++) {
      subs.push(follower.live.watch<Product>(new GetProductQuery(ids[i % ids.length])).subscribe((v) => latest.set(i, v)));
    }
    const streams: SseClient[] = [];
    for (let i = 0; i < 100; i++) streams.push(await open(`${follower.url}/products/bulk-0`));
    await waitFor('every first value', () => latest.size === 1000 && streams.every((s) => s.events.length === 1));
    const watching = follower.live.stats();
    expect(watching.queries - before.queries).toBe(ids.length); // 1,100 subscribers, 10 distinct queries
    expect(watching.subscribers - before.subscribers).toBe(1100);
    expect(follower.streams.stats().streams).toBeGreaterThanOrEqual(100);
    // Open streams leave the admission check's count of requests in progress (else they would get the
    // node's requests refused with 503 once 32 were open); it looks for them every 100 ms.
    await waitFor('the streams out of the requests in progress', async () => {
      await request(`${follower.url}/products/bulk-1`);
      return follower.cluster.requestsInFlight < 32;
    });

    for (let round = 1; round <= 5; round++) {
      const r0 = follower.live.stats();
      await putStock('bulk-0', 100 - round);
      await waitFor(`change ${round} on every stream`, () => streams.every((s) => s.events.length === round + 1));
      await waitFor(`change ${round} on every watcher of bulk-0`, () => [...latest.entries()].every(([i, v]) => i % 10 !== 0 || v.value.stock === 100 - round));
      const r1 = follower.live.stats();
      const rounds = r1.rounds - r0.rounds;
      expect(rounds).toBeGreaterThanOrEqual(1);
      // Each round evaluates each distinct query once: the 1,100 subscribers cost nothing more.
      expect(r1.evaluations - r0.evaluations).toBe(rounds * r1.queries);
      expect(follower.streams.stats().maxBufferedPerStream).toBeLessThanOrEqual(1);
    }
    for (const s of streams) expect(s.products().map((p) => p.product.stock)).toEqual([100, 99, 98, 97, 96, 95]);

    for (const s of subs) s.unsubscribe();
    for (const s of streams) s.close();
    await waitFor('the streams to be dropped', () => follower.live.stats().subscribers === before.subscribers);
    expect(follower.live.stats().queries).toBe(before.queries);
  });

  it('shutdown ends the streams and completes the watchers; the app closes', async () => {
    const node = nodes.find((n) => n !== leader && n !== follower)!;
    await waitFor('the node to have the product', async () => (await request(`${node.url}/products/apple`)).status === 200);
    const streams = [await open(`${node.url}/products/apple`), await open(`${node.url}/products/apple`)];
    let completed = false;
    node.live.watch(new GetProductQuery('apple')).subscribe({ complete: () => (completed = true) });
    await waitFor('the first values', () => streams.every((s) => s.events.length === 1));
    await node.app.close();
    await waitFor('the streams to end', () => streams.every((s) => s.ended));
    expect(completed).toBe(true);
    expect(node.streams.stats().streams).toBe(0);
  });
});
