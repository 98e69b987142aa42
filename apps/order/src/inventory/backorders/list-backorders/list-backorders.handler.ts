import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { Backorder } from '../backorder';
import { BackorderStore } from '../backorder.store';
import { ListBackordersQuery } from './list-backorders.query';

@QueryHandler(ListBackordersQuery)
export class ListBackordersHandler implements IQueryHandler<ListBackordersQuery> {
  constructor(private readonly backorders: BackorderStore) {}

  async execute(query: ListBackordersQuery): Promise<Backorder[]> {
    const matches: Backorder[] = [];
    for (const b of this.backorders.values()) {
      if (query.productId !== null && b.productId !== query.productId) continue;
      if (query.customerId !== null && b.customerId !== query.customerId) continue;
      matches.push(b);
    }
    return matches;
  }
}
