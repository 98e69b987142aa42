import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Backorder } from '../backorder';

/**
 * Turns the waiting back-orders of a product into orders, in the order they were placed, while the
 * stock lasts. Proposed by BackorderSaga after a delivery; it could as well be sent by hand.
 */
@Replicated('inventory.fill-backorders')
export class FillBackordersCommand extends Command<Backorder[]> {
  constructor(readonly productId: string) {
    super();
  }
}
