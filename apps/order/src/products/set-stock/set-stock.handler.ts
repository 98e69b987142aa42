import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import type { Product } from '../../domain/product';
import { ProductStore } from '../../domain/product.store';
import { SetStockCommand } from './set-stock.command';

@CommandHandler(SetStockCommand)
export class SetStockHandler implements ICommandHandler<SetStockCommand> {
  constructor(private readonly products: ProductStore) {}

  async execute(command: SetStockCommand): Promise<Product> {
    // Refuses to run outside a Raft apply: a local-only run would change this replica alone.
    requireApplyContext();
    const current = this.products.get(command.productId);
    // Units already held by live orders stay held: setting stock only changes what is still available.
    const product: Product = {
      id: command.productId,
      name: command.name ?? current?.name ?? command.productId,
      stock: command.stock,
      reserved: current?.reserved ?? 0,
    };
    this.products.set(product.id, product);
    return product;
  }
}
