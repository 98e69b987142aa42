import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { ProductStore } from '../../../domain/product.store';
import { CreateOrderCommand } from '../../../orders/create-order/create-order.command';
import { CreateOrderHandler } from '../../../orders/create-order/create-order.handler';
import type { Backorder } from '../backorder';
import { BackorderStore } from '../backorder.store';
import { FillBackordersCommand } from './fill-backorders.command';

/**
 * Fills back-orders first come first served: the queue stops at the first one the stock cannot cover,
 * so a large early back-order is not overtaken by small later ones. It reads the stock when it is
 * applied, not what the delivery said, so running it again (or after a delivery that was refused)
 * fills only what the stock covers at that point in the log: at worst nothing.
 */
@CommandHandler(FillBackordersCommand)
export class FillBackordersHandler implements ICommandHandler<FillBackordersCommand> {
  constructor(
    private readonly products: ProductStore,
    private readonly backorders: BackorderStore,
    private readonly createOrder: CreateOrderHandler,
  ) {}

  async execute(command: FillBackordersCommand): Promise<Backorder[]> {
    const apply = requireApplyContext();
    const filled: Backorder[] = [];
    for (const waiting of [...this.backorders.values()]) {
      if (waiting.productId !== command.productId || waiting.status !== 'Waiting') continue;
      const stock = this.products.get(command.productId)?.stock ?? 0;
      if (waiting.quantity > stock) break;
      // The order is made by the order use case's own handler, inside this entry's apply: the same
      // stock rules, and the order's id, time and index come from this entry on every node.
      const order = await this.createOrder.execute(new CreateOrderCommand(waiting.productId, waiting.quantity, waiting.customerId));
      const done: Backorder = { ...waiting, status: 'Filled', orderId: order.orderId, filledIndex: apply.index };
      this.backorders.set(done.backorderId, done);
      filled.push(done);
    }
    return filled;
  }
}
