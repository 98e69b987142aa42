import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Order } from '../../domain/order';

/** Orders `quantity` units of a product: takes them from its stock, or fails if there are not enough. */
@Replicated('orders.create')
export class CreateOrderCommand extends Command<Order> {
  constructor(
    readonly productId: string,
    readonly quantity: number,
    readonly customerId: string | null,
  ) {
    super();
  }
}
