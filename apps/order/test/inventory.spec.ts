import type { ClusterStatus } from '@raft-cqrs/raft-cluster';
import { CreateOrderHandler } from '../src/orders/create-order/create-order.handler';
import { FillBackordersHandler } from '../src/inventory/backorders/fill-backorders/fill-backorders.handler';
import { freePort, OrderNode as Node, QuietLogger, request, startNode, waitFor } from './order-cluster';

/*
 * The inventory section and the announcements on a real three-node cluster of the order app, in this
 * process, over HTTP: each test proves what one library feature does for the shop.
 */

jest.setTimeout(60_000);

describe('order app: inventory and announcements on a 3-node cluster', () => {
  const logger = new QuietLogger();
  const nodes: Node[] = [];
  let leader: Node;
  let followers: Node[];

  const status = async (n: Node): Promise<ClusterStatus> => (await request(`${n.url}/cluster/status`)).body as unknown as ClusterStatus;
  /** Every node has applied everything the leader committed. */
  const allApplied = (): Promise<boolean> =>
    waitFor('every node to apply what the leader committed', async () => {
      const s = await Promise.all(nodes.map(status));
      const commit = Math.max(...s.map((x) => x.commitIndex));
      return s.every((x) => x.lastApplied >= commit && x.commitIndex === commit);
    });
  const product = async (n: Node, id: string): Promise<Record<string, unknown>> => (await request(`${n.url}/products/${id}`)).body;

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const members = ports.map((p, i) => `o${i + 1}=http://127.0.0.1:${p}`);
    // digestInterval: replicas compare state digests every 10 entries.
    for (let i = 0; i < 3; i++) nodes.push(await startNode(`o${i + 1}`, ports[i], members, logger, { digestInterval: 10 }));
    await waitFor('a leader', () => nodes.some((n) => n.cluster.isLeader));
    leader = nodes.find((n) => n.cluster.isLeader)!;
    followers = nodes.filter((n) => n !== leader);
    await waitFor('followers to know the leader', () => followers.every((f) => f.cluster.leaderId === leader.id));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close().catch(() => undefined)));
  });

  describe('@Consistency: GET /inventory/:productId/availability', () => {
    it('on a lagging follower, sees every order acknowledged by the leader just before, every time', async () => {
      expect((await request(`${leader.url}/products/lin-widget`, 'PUT', { stock: 20 })).status).toBe(200);
      // The followers apply each order 50 ms late (a slow disk or a busy node): a local read there
      // would still show the unit the leader has just sold.
      const slow = followers.map((f) => {
        const handler = f.app.get(CreateOrderHandler);
        const execute = handler.execute.bind(handler);
        return jest.spyOn(handler, 'execute').mockImplementation(async (command) => {
          await new Promise((r) => setTimeout(r, 50));
          return execute(command);
        });
      });
      try {
        for (let i = 1; i <= 10; i++) {
          const order = await request(`${leader.url}/orders`, 'POST', { productId: 'lin-widget', quantity: 2 });
          expect(order.status).toBe(201);
          // No ?consistency= here: the query class asks for the ReadIndex barrier itself.
          const check = await request(`${followers[i % 2].url}/inventory/lin-widget/availability?quantity=2`);
          expect(check.status).toBe(200);
          expect(check.body).toEqual({ productId: 'lin-widget', quantity: 2, stock: 20 - 2 * i, available: i < 10 });
        }
      } finally {
        for (const spy of slow) spy.mockRestore();
      }
    });

    it('answers 404 for an unknown product and 400 for a bad quantity', async () => {
      expect((await request(`${followers[0].url}/inventory/nope/availability`)).status).toBe(404);
      const bad = await request(`${followers[0].url}/inventory/lin-widget/availability?quantity=-1`);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: 'bad_request', field: 'quantity' });
    });
  });

  describe('executeAll: POST /inventory/deliveries', () => {
    it('records every line of a delivery in one log entry, on every node', async () => {
      for (const id of ['d1', 'd2', 'd3']) expect((await request(`${leader.url}/products/${id}`, 'PUT', { stock: 1 })).status).toBe(200);
      const r = await request(`${followers[0].url}/inventory/deliveries`, 'POST', {
        items: [
          { productId: 'd1', quantity: 10 },
          { productId: 'd2', quantity: 20 },
          { productId: 'd3', quantity: 30 },
        ],
      });
      expect(r.status).toBe(200);
      const index = r.body.index as number;
      expect(r.body.lines).toEqual([
        { productId: 'd1', quantity: 10, stock: 11, index },
        { productId: 'd2', quantity: 20, stock: 21, index },
        { productId: 'd3', quantity: 30, stock: 31, index },
      ]);
      await allApplied();
      for (const n of nodes) {
        expect(await product(n, 'd1')).toMatchObject({ stock: 11 });
        expect(await product(n, 'd2')).toMatchObject({ stock: 21 });
        expect(await product(n, 'd3')).toMatchObject({ stock: 31 });
      }
    });

    it('records nothing of a delivery with an unknown product (404), on any node', async () => {
      const r = await request(`${followers[1].url}/inventory/deliveries`, 'POST', {
        items: [
          { productId: 'd1', quantity: 5 },
          { productId: 'not-sold-here', quantity: 5 },
          { productId: 'd2', quantity: 5 },
        ],
      });
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: 'not_found', productId: 'not-sold-here' });
      await allApplied();
      for (const n of nodes) {
        expect(await product(n, 'd1')).toMatchObject({ stock: 11 });
        expect(await product(n, 'd2')).toMatchObject({ stock: 21 });
      }
    });

    it('refuses bad lines with 400 naming the field, before the log', async () => {
      const before = (await status(leader)).commitIndex;
      const empty = await request(`${followers[0].url}/inventory/deliveries`, 'POST', { items: [] });
      expect(empty.body).toMatchObject({ error: 'bad_request', field: 'items' });
      const bad = await request(`${followers[0].url}/inventory/deliveries`, 'POST', { items: [{ productId: 'd1', quantity: 1 }, { productId: 'd2', quantity: '5' }] });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ field: 'items[1].quantity' });
      expect((await status(leader)).commitIndex).toBe(before);
    });
  });

  describe('@LeaderOnly: GET /inventory/report', () => {
    it('is answered by the leader, whichever node is asked (a follower forwards it)', async () => {
      await allApplied();
      const expected = await request(`${leader.url}/inventory/report`);
      expect(expected.status).toBe(200);
      expect(expected.body).toMatchObject({ servedBy: leader.id, soldOut: expect.arrayContaining(['lin-widget']) });
      for (const f of followers) {
        const r = await request(`${f.url}/inventory/report`);
        expect(r.status).toBe(200);
        expect(r.body.servedBy).toBe(leader.id);
        expect(r.body).toEqual({ ...expected.body, lastApplied: expect.any(Number) });
      }
    });
  });

  describe('@ReplicatedEvent: POST /announcements', () => {
    it('reaches every node once, with the same index and in the same order everywhere', async () => {
      const messages = ['Summer sale from Monday', 'Deliveries delayed by a day', 'New: blue widgets'];
      for (let i = 0; i < messages.length; i++) {
        const r = await request(`${nodes[i].url}/announcements`, 'POST', { message: messages[i] });
        expect(r.status).toBe(202);
      }
      const feeds = await waitFor('every node to receive the three announcements', async () => {
        const all = await Promise.all(nodes.map(async (n) => (await request(`${n.url}/announcements`)).body));
        return all.every((f) => (f.announcements as unknown[]).length >= 3) ? all : null;
      });
      await allApplied();
      // More log traffic after them: a duplicate would have arrived by now.
      await request(`${leader.url}/products/after-announcements`, 'PUT', { stock: 1 });
      await allApplied();
      const first = (await request(`${nodes[0].url}/announcements`)).body.announcements as { message: string; index: number }[];
      expect([...first.map((a) => a.message)].sort()).toEqual([...messages].sort());
      expect(new Set(first.map((a) => a.index)).size).toBe(3);
      for (let i = 0; i < nodes.length; i++) {
        const again = await request(`${nodes[i].url}/announcements`);
        expect(again.body).toEqual({ memberId: nodes[i].id, announcements: first });
        expect(feeds[i].memberId).toBe(nodes[i].id);
      }
    });

    it('refuses an empty message with 400 and publishes nothing', async () => {
      const r = await request(`${followers[0].url}/announcements`, 'POST', { message: '' });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ field: 'message' });
    });
  });

  describe('saga: back-orders filled after a delivery', () => {
    it('fills waiting back-orders in the order placed, with one FillBackordersCommand applied once per node', async () => {
      const fills = nodes.map((n) => jest.spyOn(n.app.get(FillBackordersHandler), 'execute'));
      try {
        expect((await request(`${leader.url}/products/gadget`, 'PUT', { stock: 1 })).status).toBe(200);
        // While there is stock a back-order is refused: order it instead.
        const early = await request(`${followers[0].url}/inventory/backorders`, 'POST', { productId: 'gadget', quantity: 1, customerId: 'zoe' });
        expect(early.status).toBe(409);
        expect(early.body).toMatchObject({ error: 'in_stock', available: 1 });
        expect((await request(`${followers[0].url}/orders`, 'POST', { productId: 'gadget', quantity: 1 })).status).toBe(201);

        const alice = await request(`${followers[0].url}/inventory/backorders`, 'POST', { productId: 'gadget', quantity: 2, customerId: 'alice' });
        const bob = await request(`${followers[1].url}/inventory/backorders`, 'POST', { productId: 'gadget', quantity: 1, customerId: 'bob' });
        expect(alice.status).toBe(201);
        expect(bob.status).toBe(201);
        expect(alice.body).toMatchObject({ status: 'Waiting', productId: 'gadget', quantity: 2, customerId: 'alice', orderId: null });

        // A delivery of 2: alice's back-order (first in the queue) takes both; bob waits for the next.
        const delivery = await request(`${followers[1].url}/inventory/deliveries`, 'POST', { items: [{ productId: 'gadget', quantity: 2 }] });
        expect(delivery.status).toBe(200);
        await waitFor('alice to have her order on every node', async () => {
          const lists = await Promise.all(nodes.map(async (n) => (await request(`${n.url}/orders?customerId=alice`)).body.count));
          return lists.every((c) => c === 1);
        });

        // More log traffic after it: a fill proposed by a follower too would have been applied by now.
        for (let i = 0; i < 5; i++) await request(`${leader.url}/products/after-fill`, 'PUT', { stock: i });
        await allApplied();
        for (const spy of fills) expect(spy).toHaveBeenCalledTimes(1);
        for (const n of nodes) {
          const orders = (await request(`${n.url}/orders?customerId=alice`)).body.orders as Record<string, unknown>[];
          expect(orders).toEqual([expect.objectContaining({ productId: 'gadget', quantity: 2, status: 'Created' })]);
          const backorders = (await request(`${n.url}/inventory/backorders?productId=gadget`)).body;
          expect(backorders).toEqual({
            count: 2,
            backorders: [
              { ...alice.body, status: 'Filled', orderId: orders[0].orderId, filledIndex: orders[0].index },
              bob.body,
            ],
          });
          expect(await product(n, 'gadget')).toEqual({ id: 'gadget', name: 'gadget', stock: 0, reserved: 3 });
        }
        const report = await request(`${followers[0].url}/inventory/report`);
        expect(report.body.backordered).toEqual({ gadget: 1 });

        // The next delivery fills bob's, through one more fill.
        expect((await request(`${leader.url}/inventory/deliveries`, 'POST', { items: [{ productId: 'gadget', quantity: 1 }] })).status).toBe(200);
        await waitFor('bob to have his order on every node', async () => {
          const lists = await Promise.all(nodes.map(async (n) => (await request(`${n.url}/orders?customerId=bob`)).body.count));
          return lists.every((c) => c === 1);
        });
        await request(`${leader.url}/products/after-fill`, 'PUT', { stock: 9 });
        await allApplied();
        for (const spy of fills) expect(spy).toHaveBeenCalledTimes(2);
        for (const n of nodes) expect(await product(n, 'gadget')).toEqual({ id: 'gadget', name: 'gadget', stock: 0, reserved: 4 });

        // A delivery of a product nobody waits for proposes no fill at all.
        expect((await request(`${leader.url}/inventory/deliveries`, 'POST', { items: [{ productId: 'd1', quantity: 1 }] })).status).toBe(200);
        await request(`${leader.url}/products/after-fill`, 'PUT', { stock: 10 });
        await allApplied();
        for (const spy of fills) expect(spy).toHaveBeenCalledTimes(2);
      } finally {
        for (const spy of fills) spy.mockRestore();
      }
    });

    it('leaves every replica with the same state: digests compared, none differs', async () => {
      await allApplied();
      for (const n of followers) {
        const s = (await status(n)).stateDigest;
        expect(s).toMatchObject({ mismatches: 0, lastMismatch: null });
        expect(s?.matches).toBeGreaterThan(0);
      }
    });
  });
});
