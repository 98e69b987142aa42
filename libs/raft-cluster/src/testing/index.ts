/**
 * `@raft-cqrs/raft-cluster/testing`: unit tests of replicated command handlers without a cluster.
 *
 * ```ts
 * const replica = new TestReplica();
 * const result = await replica.execute(new CreateOrderHandler(products, orders), new CreateOrderCommand('p1', 2));
 * ```
 *
 * Also `cqrsSimMachine()`: the deterministic simulator of `@raft-cqrs/raft/testing` applying through the
 * production CQRS state machine.
 */
export { runInApplyContext } from '../cqrs/apply-context';
export { testApplyContext, TEST_EPOCH_MS } from './test-apply-context';
export type { TestEntryFields } from './test-apply-context';
export { TestReplica } from './test-replica';
export { cqrsSimMachine } from './sim-cqrs-machine';
