import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInApplyContext, testApplyContext } from '@raft-cqrs/raft-cluster/testing';
import type { Order } from '../src/domain/order';
import { OrderStore } from '../src/domain/order.store';
import { OrderAnnouncer } from '../src/notifications/order-announcer.processor';
import { OrderCreatedEvent } from '../src/orders/create-order/order-created.event';

interface Received {
  body: { eventId: string; orderId: string; productId: string; quantity: number };
  headers: http.IncomingHttpHeaders;
}

/** A webhook receiver answering `status` (200 unless told otherwise). */
async function receiver(): Promise<{ url: string; received: Received[]; status: { code: number }; close(): Promise<void> }> {
  const received: Received[] = [];
  const status = { code: 200 };
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (status.code === 200) received.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'], headers: req.headers });
      res.writeHead(status.code).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`, received, status, close: () => new Promise((r) => srv.close(() => r())) };
}

function order(index: number): Order {
  return { orderId: `o${index}`, status: 'Created', productId: 'p1', quantity: index, customerId: null, createdAt: '', index, cancelledAt: null };
}

describe('OrderAnnouncer', () => {
  it('posts the order with its event id as Idempotency-Key and the tracing ids; anything but 2xx throws (to be retried)', async () => {
    const r = await receiver();
    try {
      const announcer = new OrderAnnouncer(r.url, new OrderStore());
      const meta = { eventId: '7:0', index: 7, name: 'OrderCreatedEvent', timestamp: 0, correlationId: 'checkout-1', causationId: 'req-1', attempt: 0 };
      await announcer.handle(new OrderCreatedEvent('o7', 'p1', 2, null), meta);
      expect(r.received).toEqual([
        {
          body: { eventId: '7:0', orderId: 'o7', productId: 'p1', quantity: 2 },
          headers: expect.objectContaining({ 'idempotency-key': '7:0', 'x-correlation-id': 'checkout-1', 'x-causation-id': 'req-1', 'content-type': 'application/json' }),
        },
      ]);
      r.status.code = 503;
      await expect(announcer.handle(new OrderCreatedEvent('o8', 'p1', 1, null), { ...meta, eventId: '8:0', index: 8 })).rejects.toThrow('answered 503 to order o8');
    } finally {
      await r.close();
    }
  });

  it('a reset announces, from the order store and in log order, the orders whose events were dropped, with the ids those events had', async () => {
    const r = await receiver();
    try {
      const store = new OrderStore();
      for (const i of [3, 5, 9, 12, 14]) runInApplyContext(testApplyContext(i), () => store.set(`o${i}`, order(i)));
      // Filling backorders creates several orders in one entry: their events are 9:0 and 9:1.
      runInApplyContext(testApplyContext(9), () => store.set('o9b', { ...order(9), orderId: 'o9b' }));
      const announcer = new OrderAnnouncer(r.url, store);
      await announcer.reset({ processor: 'order-announcements', checkpoint: '4:0', resumeAfter: '12:0' });
      expect(r.received.map((x) => [x.body.eventId, x.body.orderId, x.headers['idempotency-key']])).toEqual([
        ['5:0', 'o5', '5:0'],
        ['9:0', 'o9', '9:0'],
        ['9:1', 'o9b', '9:1'],
        ['12:0', 'o12', '12:0'],
      ]);
    } finally {
      await r.close();
    }
  });
});
