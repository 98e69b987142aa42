import { Injectable } from '@nestjs/common';
import { InMemoryStore, ReplicatedState } from '@raft-cqrs/raft-cluster';
import type { Backorder } from './backorder';

/**
 * Back-orders by id, in the order they were placed (log order, the same on every node: that is the
 * queue they are filled in). Part of the replicated state, so in snapshots and state digests; its name
 * is part of the snapshot format: never rename it.
 */
@ReplicatedState('inventory.backorders')
@Injectable()
export class BackorderStore extends InMemoryStore<Backorder> {
  /** Whether some back-order of `productId` is still waiting. */
  hasWaiting(productId: string): boolean {
    for (const b of this.values()) if (b.productId === productId && b.status === 'Waiting') return true;
    return false;
  }
}
