import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Backorder } from '../backorder';

/** Puts a customer in the queue for a product that does not have `quantity` units in stock. */
@Replicated('inventory.place-backorder')
export class PlaceBackorderCommand extends Command<Backorder> {
  constructor(
    readonly productId: string,
    readonly quantity: number,
    readonly customerId: string | null,
  ) {
    super();
  }
}
