import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { orderNotFound } from '../../domain/errors';
import type { Order } from '../../domain/order';
import { OrderStore } from '../../domain/order.store';
import { GetOrderQuery } from './get-order.query';

@QueryHandler(GetOrderQuery)
export class GetOrderHandler implements IQueryHandler<GetOrderQuery> {
  constructor(private readonly orders: OrderStore) {}

  async execute(query: GetOrderQuery): Promise<Order> {
    const order = this.orders.get(query.orderId);
    if (order === undefined) throw orderNotFound(query.orderId);
    return order;
  }
}
