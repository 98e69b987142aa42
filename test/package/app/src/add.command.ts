import { Command } from '@nestjs/cqrs';
import { Replicated } from '@raft-cqrs/raft-cluster';
import type { Counter } from './counter.store';

@Replicated('counters.add')
export class AddCommand extends Command<Counter> {
  constructor(
    readonly name: string,
    readonly by: number,
  ) {
    super();
  }
}
