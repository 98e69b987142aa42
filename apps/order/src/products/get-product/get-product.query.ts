import { Query } from '@nestjs/cqrs';
import type { Product } from '../../domain/product';

export class GetProductQuery extends Query<Product> {
  constructor(readonly productId: string) {
    super();
  }
}
