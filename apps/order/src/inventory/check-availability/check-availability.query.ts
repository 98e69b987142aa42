import { Query } from '@nestjs/cqrs';
import { Consistency } from '@raft-cqrs/raft-cluster';

export interface Availability {
  productId: string;
  quantity: number;
  /** Whether an order of `quantity` would be accepted right now. */
  available: boolean;
  stock: number;
}

/**
 * "Can I still order `quantity` of this?", asked by the checkout page just before it offers the pay
 * button. Linearizable by default, on whichever node answers: it waits for a ReadIndex barrier, so the
 * answer includes every order and delivery acknowledged before the question was asked. A plain local
 * read on a follower could still show the last unit another customer bought a moment ago.
 * (A request may still ask for less with `?consistency=local`.)
 */
@Consistency('linearizable')
export class CheckAvailabilityQuery extends Query<Availability> {
  constructor(
    readonly productId: string,
    readonly quantity: number,
  ) {
    super();
  }
}
