import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { Product } from '../../domain/product';
import { ProductStore } from '../../domain/product.store';
import { ListProductsQuery } from './list-products.query';

/** Every product, in the order they were first created (the same on every node). */
@QueryHandler(ListProductsQuery)
export class ListProductsHandler implements IQueryHandler<ListProductsQuery> {
  constructor(private readonly products: ProductStore) {}

  async execute(): Promise<Product[]> {
    return [...this.products.values()];
  }
}
