import { CommandHandler, EventBus, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { productNotFound } from '../../domain/errors';
import { ProductStore } from '../../domain/product.store';
import { MAX_STOCK } from '../../http/input';
import { tooMuchStock } from '../inventory.errors';
import { ReceiveStockCommand, StockReceipt } from './receive-stock.command';
import { StockReceivedEvent } from './stock-received.event';

@CommandHandler(ReceiveStockCommand)
export class ReceiveStockHandler implements ICommandHandler<ReceiveStockCommand> {
  constructor(
    private readonly products: ProductStore,
    private readonly events: EventBus,
  ) {}

  async execute(command: ReceiveStockCommand): Promise<StockReceipt> {
    const apply = requireApplyContext();
    const product = this.products.get(command.productId);
    // A delivery of something the shop does not sell is a mistake in the delivery note: inside
    // executeAll this refuses the whole delivery, on every node, and no line of it is recorded.
    if (product === undefined) throw productNotFound(command.productId);
    const stock = product.stock + command.quantity;
    if (stock > MAX_STOCK) throw tooMuchStock(product.id, stock);
    this.products.set(product.id, { ...product, stock });
    // Published last, after every check and write. An event already published is not taken back if
    // the handler throws afterwards (the saga would already have reacted). And on the leader the
    // saga's dispatch draws an id from this entry's newId() sequence, on the leader only: a newId()
    // after this line would differ between the leader and the followers.
    this.events.publish(new StockReceivedEvent(product.id, command.quantity, stock, apply.index));
    return { productId: product.id, quantity: command.quantity, stock, index: apply.index };
  }
}
