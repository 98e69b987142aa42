import { HttpException } from '@nestjs/common';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import { CancelOrderCommand } from '../src/orders/cancel-order/cancel-order.command';
import { CreateOrderCommand } from '../src/orders/create-order/create-order.command';
import { ListOrdersQuery } from '../src/orders/list-orders/list-orders.query';
import { OrdersController } from '../src/orders/orders.controller';
import { ProductsController } from '../src/products/products.controller';
import { SetStockCommand } from '../src/products/set-stock/set-stock.command';

/** Buses that record what reached them: a command that reaches the command bus reaches the log. */
function recordingBuses(): { commands: object[]; queries: object[]; commandBus: CommandBus; queryBus: QueryBus } {
  const commands: object[] = [];
  const queries: object[] = [];
  const commandBus = { execute: async (c: object) => (commands.push(c), {}) } as unknown as CommandBus;
  const queryBus = { execute: async (q: object) => (queries.push(q), []) } as unknown as QueryBus;
  return { commands, queries, commandBus, queryBus };
}

function badRequest(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpException);
    expect((err as HttpException).getStatus()).toBe(400);
    return (err as HttpException).getResponse() as Record<string, unknown>;
  }
  throw new Error('expected a 400');
}

describe('input validation: a bad field is a 400 naming it, and nothing reaches the command bus', () => {
  const goodOrder = { productId: 'p-1', quantity: 1 };

  it.each([
    ['body', null],
    ['body', [goodOrder]],
    ['body', 'text'],
    ['productId', { quantity: 1 }],
    ['productId', { productId: '', quantity: 1 }],
    ['productId', { productId: 'a b', quantity: 1 }],
    ['productId', { productId: 'x'.repeat(129), quantity: 1 }],
    ['productId', { productId: 7, quantity: 1 }],
    ['quantity', { productId: 'p1' }],
    ['quantity', { productId: 'p1', quantity: 0 }],
    ['quantity', { productId: 'p1', quantity: -1 }],
    ['quantity', { productId: 'p1', quantity: 1.5 }],
    ['quantity', { productId: 'p1', quantity: '1' }],
    ['quantity', { productId: 'p1', quantity: 1_000_001 }],
    ['customerId', { productId: 'p1', quantity: 1, customerId: 'no/slash' }],
    ['customerId', { productId: 'p1', quantity: 1, customerId: 42 }],
  ])('POST /orders: bad %s in %j', (field, body) => {
    const buses = recordingBuses();
    const controller = new OrdersController(buses.commandBus, buses.queryBus);
    expect(badRequest(() => controller.create(body))).toEqual({ error: 'bad_request', field, message: expect.stringContaining(field) });
    expect(buses.commands).toEqual([]);
  });

  it('POST /orders: accepts the limits, ignores unknown fields, and treats a null customerId as none', async () => {
    const buses = recordingBuses();
    const controller = new OrdersController(buses.commandBus, buses.queryBus);
    await controller.create({ productId: 'A.z_0:9-', quantity: 1_000_000, extra: { anything: true } });
    await controller.create({ productId: 'x'.repeat(128), quantity: 1, customerId: null });
    await controller.create({ productId: 'p1', quantity: 1, customerId: 'c1' });
    expect(buses.commands).toEqual([
      new CreateOrderCommand('A.z_0:9-', 1_000_000, null),
      new CreateOrderCommand('x'.repeat(128), 1, null),
      new CreateOrderCommand('p1', 1, 'c1'),
    ]);
    expect(buses.commands[0]).toBeInstanceOf(CreateOrderCommand);
  });

  it.each([
    ['id', 'a b', { stock: 1 }],
    ['body', 'p1', undefined],
    ['stock', 'p1', {}],
    ['stock', 'p1', { stock: -1 }],
    ['stock', 'p1', { stock: 1_000_000_001 }],
    ['stock', 'p1', { stock: 2.5 }],
    ['stock', 'p1', { stock: '10' }],
    ['name', 'p1', { stock: 1, name: 5 }],
    ['name', 'p1', { stock: 1, name: 'n'.repeat(201) }],
  ])('PUT /products/:id: bad %s (id %s, body %j)', (field, productId, body) => {
    const buses = recordingBuses();
    const controller = new ProductsController(buses.commandBus, buses.queryBus);
    expect(badRequest(() => controller.setStock(productId, body))).toEqual({ error: 'bad_request', field, message: expect.stringContaining(field) });
    expect(buses.commands).toEqual([]);
  });

  it('PUT /products/:id: accepts stock 0 and 1e9 and a 200-character name', async () => {
    const buses = recordingBuses();
    const controller = new ProductsController(buses.commandBus, buses.queryBus);
    await controller.setStock('p1', { stock: 0 });
    await controller.setStock('p1', { stock: 1_000_000_000, name: 'n'.repeat(200), colour: 'red' });
    expect(buses.commands).toEqual([new SetStockCommand('p1', 0, null), new SetStockCommand('p1', 1_000_000_000, 'n'.repeat(200))]);
  });

  it('checks the ids in paths and filters', async () => {
    const buses = recordingBuses();
    const orders = new OrdersController(buses.commandBus, buses.queryBus);
    const products = new ProductsController(buses.commandBus, buses.queryBus);
    expect(badRequest(() => orders.cancel('../x'))).toMatchObject({ field: 'id' });
    expect(badRequest(() => orders.get('x'.repeat(129)))).toMatchObject({ field: 'id' });
    expect(badRequest(() => products.get('a%b'))).toMatchObject({ field: 'id' });
    await expect(orders.list(['a', 'b'], undefined)).rejects.toMatchObject({ response: { field: 'productId' } });
    await expect(orders.list(undefined, 'bad id')).rejects.toMatchObject({ response: { field: 'customerId' } });
    expect(buses.commands).toEqual([]);
    await orders.cancel('o-1');
    await orders.list('', 'c1');
    expect(buses.commands).toEqual([new CancelOrderCommand('o-1')]);
    expect(buses.queries).toEqual([new ListOrdersQuery(null, 'c1')]);
  });
});
