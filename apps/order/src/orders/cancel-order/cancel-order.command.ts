import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Order } from '../../domain/order';

/** Cancels a live order and puts its units back in stock. */
@Replicated('orders.cancel')
export class CancelOrderCommand extends Command<Order> {
  constructor(readonly orderId: string) {
    super();
  }
}
