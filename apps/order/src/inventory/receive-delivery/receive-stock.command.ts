import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';

/** What one delivery line did: the product's stock after it, and the log entry of the whole delivery. */
export interface StockReceipt {
  productId: string;
  quantity: number;
  stock: number;
  /** Raft log index of the delivery: every line of one delivery has the same. */
  index: number;
}

/**
 * One line of a supplier's delivery: `quantity` more units of an existing product can be ordered.
 * Unlike `PUT /products/:id` (which sets the stock), it adds to what is there, so two deliveries
 * recorded at the same time both count. A delivery of several lines is sent with `executeAll`.
 */
@Replicated('inventory.receive-stock')
export class ReceiveStockCommand extends Command<StockReceipt> {
  constructor(
    readonly productId: string,
    readonly quantity: number,
  ) {
    super();
  }
}
