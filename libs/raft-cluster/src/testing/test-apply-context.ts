import { ApplyContextImpl, RaftApplyContext } from '../cqrs/apply-context';

/** What the leader fixes for one log entry; every field has a default a test rarely needs to set. */
export interface TestEntryFields {
  /** Term of the entry (default 1). */
  term?: number;
  /** The leader's clock at proposal, ms since the epoch (default: a fixed instant plus one second per index). */
  timestamp?: number;
  /** The request id the command was proposed with (default `req-<index>`). */
  requestId?: string | null;
  /** The leader's seed for `newId()` (default `seed-<index>`): the same seed gives the same ids. */
  seed?: string;
  /** Position inside an `executeAll` batch (default 0). */
  position?: number;
}

/** 2025-01-01T12:00:00Z: the clock of entry 0 in tests, so that dates in snapshots stay stable. */
export const TEST_EPOCH_MS = Date.UTC(2025, 0, 1, 12, 0, 0);

/** The apply context entry `index` would have on every node, for calling a handler directly. */
export function testApplyContext(index: number, fields: TestEntryFields = {}): RaftApplyContext {
  if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`testApplyContext: index must be a positive integer, got ${index}`);
  return new ApplyContextImpl(
    index,
    fields.term ?? 1,
    fields.timestamp ?? TEST_EPOCH_MS + index * 1000,
    fields.requestId === undefined ? `req-${index}` : fields.requestId,
    fields.seed ?? `seed-${index}`,
    fields.position ?? 0,
  );
}
