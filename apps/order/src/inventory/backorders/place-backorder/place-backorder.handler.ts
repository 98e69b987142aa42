import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { productNotFound } from '../../../domain/errors';
import { ProductStore } from '../../../domain/product.store';
import { stillInStock } from '../../inventory.errors';
import type { Backorder } from '../backorder';
import { BackorderStore } from '../backorder.store';
import { PlaceBackorderCommand } from './place-backorder.command';

@CommandHandler(PlaceBackorderCommand)
export class PlaceBackorderHandler implements ICommandHandler<PlaceBackorderCommand> {
  constructor(
    private readonly products: ProductStore,
    private readonly backorders: BackorderStore,
  ) {}

  async execute(command: PlaceBackorderCommand): Promise<Backorder> {
    const apply = requireApplyContext();
    const product = this.products.get(command.productId);
    if (product === undefined) throw productNotFound(command.productId);
    // Decided in log order like an order: if the stock is there, the customer should simply order it.
    if (product.stock >= command.quantity) throw stillInStock(product.id, command.quantity, product.stock);
    const backorder: Backorder = {
      backorderId: apply.newId(),
      status: 'Waiting',
      productId: product.id,
      quantity: command.quantity,
      customerId: command.customerId,
      createdAt: new Date(apply.timestamp).toISOString(),
      orderId: null,
      filledIndex: null,
    };
    this.backorders.set(backorder.backorderId, backorder);
    return backorder;
  }
}
