import { HttpException } from '@nestjs/common';
import type { EventBus } from '@nestjs/cqrs';
import { TEST_EPOCH_MS, TestReplica } from '@raft-cqrs/raft-cluster/testing';
import { OrderStore } from '../src/domain/order.store';
import { ProductStore } from '../src/domain/product.store';
import { CancelOrderHandler } from '../src/orders/cancel-order/cancel-order.handler';
import { CreateOrderHandler } from '../src/orders/create-order/create-order.handler';
import { SetStockHandler } from '../src/products/set-stock/set-stock.handler';

export const T0 = TEST_EPOCH_MS;

/**
 * One replica's state and command handlers, applied the way the bridge does: each command inside
 * the apply context of its log entry, with ids and time from the leader.
 */
export class Replica {
  readonly products = new ProductStore();
  readonly orders = new OrderStore();
  readonly setStock = new SetStockHandler(this.products);
  /** What the handlers published, in order. */
  readonly events: object[] = [];
  readonly createOrder = new CreateOrderHandler(this.products, this.orders, { publish: (e: object) => void this.events.push(e) } as unknown as EventBus);
  readonly cancelOrder = new CancelOrderHandler(this.products, this.orders);
  private readonly log = new TestReplica();

  /** Applies the next log entry; `seed` stands for what the leader fixed at proposal. */
  apply<T>(fn: (r: this) => Promise<T>, seed?: string): Promise<T> {
    return this.log.apply(() => fn(this), { seed });
  }

  snapshot(): unknown {
    return { products: this.products.snapshot(), orders: this.orders.snapshot() };
  }
}

/** The status and JSON body of the HttpException `promise` rejects with. */
export async function httpError(promise: Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof HttpException)) throw err;
    return { status: err.getStatus(), body: err.getResponse() as Record<string, unknown> };
  }
  throw new Error('expected an HttpException, got a result');
}
