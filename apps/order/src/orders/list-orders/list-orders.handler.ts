import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { Order } from '../../domain/order';
import { OrderStore } from '../../domain/order.store';
import { ListOrdersQuery } from './list-orders.query';

@QueryHandler(ListOrdersQuery)
export class ListOrdersHandler implements IQueryHandler<ListOrdersQuery> {
  constructor(private readonly orders: OrderStore) {}

  async execute(query: ListOrdersQuery): Promise<Order[]> {
    const matches: Order[] = [];
    for (const order of this.orders.values()) {
      if (query.productId !== null && order.productId !== query.productId) continue;
      if (query.customerId !== null && order.customerId !== query.customerId) continue;
      matches.push(order);
    }
    return matches;
  }
}
