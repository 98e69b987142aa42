import { Injectable } from '@nestjs/common';
import { InMemoryStore, ReplicatedState } from '@raft-cqrs/raft-cluster';
import type { Product } from './product';

/** Products by id. Part of the replicated state: written only by command handlers. */
@ReplicatedState('orders.products')
@Injectable()
export class ProductStore extends InMemoryStore<Product> {}
