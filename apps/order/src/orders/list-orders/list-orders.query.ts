import { Query } from '@nestjs/cqrs';
import type { Order } from '../../domain/order';

/** Orders in creation (log) order; a null filter matches every order. */
export class ListOrdersQuery extends Query<Order[]> {
  constructor(
    readonly productId: string | null,
    readonly customerId: string | null,
  ) {
    super();
  }
}
