import { Query } from '@nestjs/cqrs';
import type { Order } from '../../domain/order';

export class GetOrderQuery extends Query<Order> {
  constructor(readonly orderId: string) {
    super();
  }
}
