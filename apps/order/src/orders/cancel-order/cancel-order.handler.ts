import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { orderAlreadyCancelled, orderNotFound } from '../../domain/errors';
import type { Order } from '../../domain/order';
import { OrderStore } from '../../domain/order.store';
import { ProductStore } from '../../domain/product.store';
import { CancelOrderCommand } from './cancel-order.command';

@CommandHandler(CancelOrderCommand)
export class CancelOrderHandler implements ICommandHandler<CancelOrderCommand> {
  constructor(
    private readonly products: ProductStore,
    private readonly orders: OrderStore,
  ) {}

  async execute(command: CancelOrderCommand): Promise<Order> {
    const apply = requireApplyContext();
    const order = this.orders.get(command.orderId);
    if (order === undefined) throw orderNotFound(command.orderId);
    // A second cancel is refused rather than answered 200: returning the units twice would create
    // stock. A client that retries one cancel with the same Idempotency-Key gets the first answer.
    if (order.status === 'Cancelled') throw orderAlreadyCancelled(order.orderId);

    const cancelled: Order = { ...order, status: 'Cancelled', cancelledAt: new Date(apply.timestamp).toISOString() };
    const product = this.products.get(order.productId);
    // Products are never deleted, so the product is there; the guard keeps a corrupt store from throwing mid-apply.
    if (product !== undefined) {
      this.products.set(product.id, { ...product, stock: product.stock + order.quantity, reserved: product.reserved - order.quantity });
    }
    this.orders.set(cancelled.orderId, cancelled);
    return cancelled;
  }
}
