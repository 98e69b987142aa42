import { Injectable } from '@nestjs/common';
import { InMemoryStore, ReplicatedState } from '@raft-cqrs/raft-cluster';
import type { Order } from './order';

/**
 * Orders by id, in creation order (insertion order is log order, the same on every node, so lists
 * need no sort). Part of the replicated state: written only by command handlers.
 */
@ReplicatedState('orders.orders')
@Injectable()
export class OrderStore extends InMemoryStore<Order> {}
