import { Query } from '@nestjs/cqrs';
import type { Product } from '../../domain/product';

export class ListProductsQuery extends Query<Product[]> {}
