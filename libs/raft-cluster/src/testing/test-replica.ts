import { runInApplyContext } from '../cqrs/apply-context';
import { TestEntryFields, testApplyContext } from './test-apply-context';

/**
 * One replica's log position, for unit tests of command handlers without a cluster: each `apply` is
 * the next log entry, run inside that entry's apply context exactly as the module runs it on every
 * node (so `requireApplyContext()`, `newId()` and the leader's timestamp work). Two replicas fed the
 * same commands produce the same ids and times: a test can compare their state to prove a handler
 * deterministic.
 */
export class TestReplica {
  private index: number;

  constructor(options: { startIndex?: number } = {}) {
    this.index = options.startIndex ?? 0;
  }

  /** Index of the last entry applied (0 before the first). */
  get lastIndex(): number {
    return this.index;
  }

  /** Runs `fn` as the next log entry; returns what it returns (a promise for an async handler). */
  apply<T>(fn: () => T, fields: TestEntryFields = {}): T {
    this.index++;
    return runInApplyContext(testApplyContext(this.index, fields), fn);
  }

  /** `handler.execute(command)` as the next log entry, the way the command bus calls it during apply. */
  execute<C, R>(handler: { execute(command: C): R }, command: C, fields: TestEntryFields = {}): R {
    return this.apply(() => handler.execute(command), fields);
  }
}
