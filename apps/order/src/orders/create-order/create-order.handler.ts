import { CommandHandler, EventBus, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { outOfStock, productNotFound } from '../../domain/errors';
import type { Order } from '../../domain/order';
import { OrderStore } from '../../domain/order.store';
import { ProductStore } from '../../domain/product.store';
import { CreateOrderCommand } from './create-order.command';
import { OrderCreatedEvent } from './order-created.event';

/**
 * The one place stock is taken. It runs in log order on every node, so the check and the decrement
 * see every earlier order whichever node took it: that is what makes overselling impossible.
 */
@CommandHandler(CreateOrderCommand)
export class CreateOrderHandler implements ICommandHandler<CreateOrderCommand> {
  constructor(
    private readonly products: ProductStore,
    private readonly orders: OrderStore,
    private readonly events: EventBus,
  ) {}

  async execute(command: CreateOrderCommand): Promise<Order> {
    const apply = requireApplyContext();
    const product = this.products.get(command.productId);
    if (product === undefined) throw productNotFound(command.productId);
    if (product.stock < command.quantity) throw outOfStock(product.id, command.quantity, product.stock);

    const order: Order = {
      // From the leader's seed, not randomUUID(): every replica must store the same id.
      orderId: apply.newId(),
      status: 'Created',
      productId: product.id,
      quantity: command.quantity,
      customerId: command.customerId,
      createdAt: new Date(apply.timestamp).toISOString(),
      index: apply.index,
      cancelledAt: null,
    };
    this.products.set(product.id, { ...product, stock: product.stock - command.quantity, reserved: product.reserved + command.quantity });
    this.orders.set(order.orderId, order);
    this.events.publish(new OrderCreatedEvent(order.orderId, order.productId, order.quantity, order.customerId));
    return order;
  }
}
