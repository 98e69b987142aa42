import { CancelOrderCommand } from '../src/orders/cancel-order/cancel-order.command';
import { CreateOrderCommand } from '../src/orders/create-order/create-order.command';
import { OrderCreatedEvent } from '../src/orders/create-order/order-created.event';
import { ListOrdersHandler } from '../src/orders/list-orders/list-orders.handler';
import { ListOrdersQuery } from '../src/orders/list-orders/list-orders.query';
import { SetStockCommand } from '../src/products/set-stock/set-stock.command';
import { httpError, Replica, T0 } from './support';

async function withStock(stock: number): Promise<Replica> {
  const r = new Replica();
  await r.apply((x) => x.setStock.execute(new SetStockCommand('p1', stock, 'Widget')));
  return r;
}

describe('orders: the stock rules', () => {
  it('creates an order with the id, time and index of its log entry and moves its units to reserved', async () => {
    const r = await withStock(5);
    const order = await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 2, 'alice')));
    expect(order).toEqual({
      orderId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      status: 'Created',
      productId: 'p1',
      quantity: 2,
      customerId: 'alice',
      createdAt: new Date(T0 + 2000).toISOString(),
      index: 2,
      cancelledAt: null,
    });
    expect(r.products.get('p1')).toEqual({ id: 'p1', name: 'Widget', stock: 3, reserved: 2 });
    expect(r.orders.get(order.orderId)).toEqual(order);
    expect(r.events).toEqual([new OrderCreatedEvent(order.orderId, 'p1', 2, 'alice')]);
  });

  it('sells the last unit and refuses the next with 409 out_of_stock, changing nothing', async () => {
    const r = await withStock(3);
    await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 3, null)));
    const before = r.snapshot();
    const err = await httpError(r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 1, null))));
    expect(err).toEqual({ status: 409, body: expect.objectContaining({ error: 'out_of_stock', productId: 'p1', requested: 1, available: 0 }) });
    expect(r.snapshot()).toEqual(before);
    expect(r.products.get('p1')).toMatchObject({ stock: 0, reserved: 3 });
    expect(r.events).toHaveLength(1); // the refused order raised nothing
  });

  it('refuses an order larger than the stock even when some is left', async () => {
    const r = await withStock(3);
    const err = await httpError(r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 4, null))));
    expect(err.status).toBe(409);
    expect(r.products.get('p1')).toMatchObject({ stock: 3, reserved: 0 });
    expect(r.orders.size).toBe(0);
  });

  it('answers 404 for an order of an unknown product', async () => {
    const r = await withStock(3);
    const err = await httpError(r.apply((x) => x.createOrder.execute(new CreateOrderCommand('nope', 1, null))));
    expect(err).toEqual({ status: 404, body: expect.objectContaining({ error: 'not_found', productId: 'nope' }) });
    expect(r.orders.size).toBe(0);
  });

  it('cancel returns the units to stock; a second cancel is 409 already_cancelled and returns nothing more', async () => {
    const r = await withStock(5);
    const order = await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 5, null)));
    const cancelled = await r.apply((x) => x.cancelOrder.execute(new CancelOrderCommand(order.orderId)));
    expect(cancelled).toEqual({ ...order, status: 'Cancelled', cancelledAt: new Date(T0 + 3000).toISOString() });
    expect(r.products.get('p1')).toMatchObject({ stock: 5, reserved: 0 });
    const again = await httpError(r.apply((x) => x.cancelOrder.execute(new CancelOrderCommand(order.orderId))));
    expect(again).toEqual({ status: 409, body: expect.objectContaining({ error: 'already_cancelled', orderId: order.orderId }) });
    expect(r.products.get('p1')).toMatchObject({ stock: 5, reserved: 0 });
    // The returned units can be sold again.
    await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 5, null)));
    expect(r.products.get('p1')).toMatchObject({ stock: 0, reserved: 5 });
  });

  it('answers 404 when cancelling an unknown order', async () => {
    const r = await withStock(5);
    const err = await httpError(r.apply((x) => x.cancelOrder.execute(new CancelOrderCommand('nope'))));
    expect(err).toEqual({ status: 404, body: expect.objectContaining({ error: 'not_found', orderId: 'nope' }) });
  });

  it('two replicas applying the same entries end with identical state, and a snapshot restores it', async () => {
    const a = new Replica();
    const b = new Replica();
    const log: ((x: Replica) => Promise<unknown>)[] = [
      (x) => x.setStock.execute(new SetStockCommand('p1', 3, null)),
      (x) => x.setStock.execute(new SetStockCommand('p2', 1, 'Gadget')),
      (x) => x.createOrder.execute(new CreateOrderCommand('p1', 2, 'alice')),
      (x) => x.createOrder.execute(new CreateOrderCommand('p2', 1, 'bob')),
      (x) => x.createOrder.execute(new CreateOrderCommand('p1', 2, 'carol')),
    ];
    for (const replica of [a, b]) for (const entry of log) await replica.apply(entry).catch(() => undefined);
    expect(JSON.stringify(b.snapshot())).toBe(JSON.stringify(a.snapshot()));
    expect(a.orders.size).toBe(2);

    const restored = new Replica();
    const snap = JSON.parse(JSON.stringify(a.snapshot())) as { products: unknown; orders: unknown };
    restored.products.restore(snap.products);
    restored.orders.restore(snap.orders);
    expect(restored.snapshot()).toEqual(a.snapshot());
  });

  it('lists orders in log order, filtered by product and customer', async () => {
    const r = await withStock(10);
    await r.apply((x) => x.setStock.execute(new SetStockCommand('p2', 10, null)));
    const o1 = await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 1, 'alice')));
    const o2 = await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p2', 1, 'alice')));
    const o3 = await r.apply((x) => x.createOrder.execute(new CreateOrderCommand('p1', 1, null)));
    const list = new ListOrdersHandler(r.orders);
    const ids = async (productId: string | null, customerId: string | null): Promise<string[]> =>
      (await list.execute(new ListOrdersQuery(productId, customerId))).map((o) => o.orderId);
    expect(await ids(null, null)).toEqual([o1.orderId, o2.orderId, o3.orderId]);
    expect(await ids('p1', null)).toEqual([o1.orderId, o3.orderId]);
    expect(await ids(null, 'alice')).toEqual([o1.orderId, o2.orderId]);
    expect(await ids('p2', 'alice')).toEqual([o2.orderId]);
    expect(await ids('p3', null)).toEqual([]);
  });
});
