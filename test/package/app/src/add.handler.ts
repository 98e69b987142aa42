import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { AddCommand } from './add.command';
import { Counter, CounterStore } from './counter.store';

@CommandHandler(AddCommand)
export class AddHandler implements ICommandHandler<AddCommand> {
  constructor(private readonly counters: CounterStore) {}

  async execute(command: AddCommand): Promise<Counter> {
    const { index } = requireApplyContext();
    const counter = { name: command.name, value: (this.counters.get(command.name)?.value ?? 0) + command.by, index };
    this.counters.set(command.name, counter);
    return counter;
  }
}
