import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { productNotFound } from '../../domain/errors';
import type { Product } from '../../domain/product';
import { ProductStore } from '../../domain/product.store';
import { GetProductQuery } from './get-product.query';

@QueryHandler(GetProductQuery)
export class GetProductHandler implements IQueryHandler<GetProductQuery> {
  constructor(private readonly products: ProductStore) {}

  async execute(query: GetProductQuery): Promise<Product> {
    const product = this.products.get(query.productId);
    if (product === undefined) throw productNotFound(query.productId);
    return product;
  }
}
