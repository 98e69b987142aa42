import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { productNotFound } from '../../domain/errors';
import { ProductStore } from '../../domain/product.store';
import { Availability, CheckAvailabilityQuery } from './check-availability.query';

/** An ordinary query handler: the barrier is the query class's doing, not this code's. */
@QueryHandler(CheckAvailabilityQuery)
export class CheckAvailabilityHandler implements IQueryHandler<CheckAvailabilityQuery> {
  constructor(private readonly products: ProductStore) {}

  async execute(query: CheckAvailabilityQuery): Promise<Availability> {
    const product = this.products.get(query.productId);
    if (product === undefined) throw productNotFound(query.productId);
    return { productId: product.id, quantity: query.quantity, available: product.stock >= query.quantity, stock: product.stock };
  }
}
