import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpResult, ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * NOTIFY_URL: the order app announces every created order once per cluster, through a `once` event
 * processor, to a webhook receiver, while the leader is SIGKILLed, a follower restarts, and the receiver
 * is down for a while; then the whole cluster restarts and announces nothing again.
 */
jest.setTimeout(180_000);

const ENTRY = 'apps/order/src/main.ts';
const ORDERS = 200;

interface Announcement {
  eventId: string;
  orderId: string;
  productId: string;
  quantity: number;
  idempotencyKey: string | undefined;
  correlationId: string | undefined;
}

/** A webhook receiver that records every delivery; while `down` it answers 503 (the processor must retry). */
class Receiver {
  readonly received: Announcement[] = [];
  down = false;
  private server!: http.Server;

  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.down) {
          res.writeHead(503).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Announcement, 'idempotencyKey' | 'correlationId'>;
        this.received.push({ ...body, idempotencyKey: req.headers['idempotency-key'] as string | undefined, correlationId: req.headers['x-correlation-id'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/orders`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const position = (eventId: string): [number, number] => eventId.split(':').map(Number) as [number, number];
const before = (a: string, b: string): boolean => {
  const [ai, an] = position(a);
  const [bi, bn] = position(b);
  return ai < bi || (ai === bi && an < bn);
};

/** Places one order as a client would: same Idempotency-Key on every retry, next node on 503 or a network error. */
async function order(cluster: ProcessCluster, nodes: string[], i: number): Promise<string> {
  const key = `notify-order-${i}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    const node = nodes[(i + attempt) % nodes.length];
    let r: HttpResult;
    try {
      r = await request(`${cluster.url(node)}/orders`, { method: 'POST', body: { productId: 'p1', quantity: 1, customerId: `c${i}` }, headers: { 'idempotency-key': key, 'x-correlation-id': `corr-${i}` }, timeoutMs: 5_000 });
    } catch {
      await sleep(100);
      continue;
    }
    if (r.status === 201) return r.json<{ orderId: string }>().orderId;
    if (r.status !== 503) throw new Error(`order ${i}: ${r.status} ${r.body}`);
    await sleep(100);
  }
  throw new Error(`order ${i} was never created`);
}

it('announces every order once per cluster through a leader kill, a follower restart and a receiver outage; a full restart announces nothing again', async () => {
  const receiver = new Receiver();
  const notifyUrl = await receiver.listen();
  const cluster = await ProcessCluster.create({ size: 3, entry: ENTRY, secret: 'notify-e2e-secret-123456', env: { NOTIFY_URL: notifyUrl, COMPACTION_THRESHOLD: '50' } });
  const nodes = ['node1', 'node2', 'node3'];
  try {
    cluster.startAll();
    const { leaderId } = await cluster.waitForLeader(30_000);
    const stock = await request(`${cluster.url(leaderId)}/products/p1`, { method: 'PUT', body: { name: 'Widget', stock: ORDERS * 2 } });
    expect(stock.status).toBe(200);

    const created: string[] = [];
    let next = 0;
    const client = async (): Promise<void> => {
      for (let i = next++; i < ORDERS; i = next++) created.push(await order(cluster, nodes, i));
    };
    const clients = Array.from({ length: 4 }, () => client());

    await waitFor('60 orders', async () => created.length >= 60, 60_000);
    const { leaderId: doomed } = await cluster.waitForLeader(30_000);
    await cluster.kill(doomed, 'SIGKILL');
    cluster.start(doomed);

    await waitFor('110 orders', async () => created.length >= 110, 60_000);
    receiver.down = true;
    const { leaderId: lead } = await cluster.waitForLeader(30_000);
    const follower = nodes.find((n) => n !== lead)!;
    await cluster.kill(follower, 'SIGTERM');
    cluster.start(follower);
    await waitFor('150 orders', async () => created.length >= 150, 60_000);
    receiver.down = false;

    await Promise.all(clients);
    expect(new Set(created).size).toBe(ORDERS);
    await waitFor('every order announced', async () => new Set(receiver.received.map((a) => a.orderId)).size >= ORDERS, 60_000);

    // One event id per order, the Idempotency-Key is the event id, and a repeat carries the same one.
    const idOf = new Map<string, string>();
    for (const a of receiver.received) {
      expect(a.idempotencyKey).toBe(a.eventId);
      expect(a.eventId).toMatch(/^\d+:\d+$/);
      expect(a.productId).toBe('p1');
      expect(a.quantity).toBe(1);
      if (idOf.has(a.orderId)) expect(a.eventId).toBe(idOf.get(a.orderId));
      idOf.set(a.orderId, a.eventId);
    }
    expect(new Set(idOf.values()).size).toBe(ORDERS);
    expect([...idOf.keys()].sort()).toEqual([...created].sort());
    // The correlation id of the request that created the order reaches the receiver.
    expect(receiver.received.every((a) => a.correlationId?.startsWith('corr-'))).toBe(true);
    // In log order: each first delivery comes after every earlier first delivery (a repeat goes back, never a new one).
    const firsts: string[] = [];
    const seen = new Set<string>();
    for (const a of receiver.received) {
      if (seen.has(a.eventId)) continue;
      seen.add(a.eventId);
      firsts.push(a.eventId);
    }
    for (let i = 1; i < firsts.length; i++) expect(before(firsts[i - 1], firsts[i])).toBe(true);
    const duplicates = receiver.received.length - ORDERS;

    // The whole cluster stops and starts again: nothing already announced is announced again.
    const { leaderId: last } = await cluster.waitForLeader(30_000);
    await waitFor('the last checkpoint in the log', async () => {
      const p = (await cluster.status(last)).processors?.find((x) => x.name === 'order-announcements');
      return p !== undefined && p.lag === 0 && p.state === 'idle';
    });
    await sleep(300); // the checkpoint entry of the last delivery (written every 100 ms) commits
    const announcedBefore = receiver.received.length;
    for (const n of nodes) await cluster.kill(n, 'SIGTERM');
    for (const n of nodes) cluster.start(n);
    const { leaderId: again } = await cluster.waitForLeader(30_000);
    await waitFor('the processor resumed on the new leader, caught up', async () => {
      const p = (await cluster.status(again)).processors?.find((x) => x.name === 'order-announcements');
      return p !== undefined && p.state === 'idle' && p.lag === 0;
    });
    expect(receiver.received.length).toBe(announcedBefore);
    // Orders after the restart are announced as before.
    const after = await order(cluster, nodes, ORDERS);
    await waitFor('the new order announced', async () => receiver.received.some((a) => a.orderId === after), 30_000);
    console.log(`order-notify: ${ORDERS} orders, ${duplicates} repeated announcement(s) across the leader changes`);
  } finally {
    await cluster.stopAll();
    await receiver.close();
  }
});
