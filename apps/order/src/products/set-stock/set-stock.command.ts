import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Product } from '../../domain/product';

/**
 * Sets how many units of a product can be ordered, creating the product if it is new. `name: null`
 * keeps the current name (a new product is named after its id).
 */
@Replicated('orders.set-stock')
export class SetStockCommand extends Command<Product> {
  constructor(
    readonly productId: string,
    readonly stock: number,
    readonly name: string | null,
  ) {
    super();
  }
}
