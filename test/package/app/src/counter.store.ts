import { Injectable } from '@nestjs/common';
import { InMemoryStore, ReplicatedState } from '@raft-cqrs/raft-cluster';

export interface Counter {
  name: string;
  value: number;
  /** Log index of the last change. */
  index: number;
}

@ReplicatedState('counters')
@Injectable()
export class CounterStore extends InMemoryStore<Counter> {}
