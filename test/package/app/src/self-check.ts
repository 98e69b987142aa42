import 'reflect-metadata';
import { TestReplica } from '@raft-cqrs/raft-cluster/testing';
import { AddCommand } from './add.command';
import { AddHandler } from './add.handler';
import { CounterStore } from './counter.store';

/** Unit-tests the handler through the package's testing entry point, and probes what is not exported. */
async function main(): Promise<void> {
  const replica = new TestReplica();
  const handler = new AddHandler(new CounterStore());
  await replica.execute(handler, new AddCommand('a', 2));
  const second = await replica.execute(handler, new AddCommand('a', 3));
  const internals: Record<string, string> = {};
  for (const path of ['@raft-cqrs/raft-cluster/dist/cqrs/raft-cqrs.bridge', '@raft-cqrs/raft/dist/core/raft']) {
    try {
      require(path);
      internals[path] = 'loaded';
    } catch (err) {
      internals[path] = (err as NodeJS.ErrnoException).code ?? 'error';
    }
  }
  process.stdout.write(JSON.stringify({ second, lastIndex: replica.lastIndex, internals }));
}

void main();
