import { Query } from '@nestjs/cqrs';
import type { Backorder } from '../backorder';

/** Back-orders in the order they were placed; a null filter matches every one. */
export class ListBackordersQuery extends Query<Backorder[]> {
  constructor(
    readonly productId: string | null,
    readonly customerId: string | null,
  ) {
    super();
  }
}
