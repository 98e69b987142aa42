import { isApplying, recordUndo } from './apply-context';
import { REPLICATED_STATE } from './decorators';

/**
 * State that the replicated state machine snapshots, restores and digests. `snapshot()` returns a
 * JSON-serialisable value; `restore(value)` replaces the whole state with it (`restore(undefined)`
 * empties it). Both are called only between applies.
 */
export interface ReplicatedStateStore {
  snapshot(): unknown;
  restore(state: unknown): void;
}

/**
 * A ready replicated store for plain in-memory read models: a map from string ids to JSON values.
 * Mutate it only from command handlers (that is, during apply); read it anywhere. Iteration order is
 * insertion order, the same on every node.
 */
export class InMemoryStore<V> implements ReplicatedStateStore {
  protected readonly items = new Map<string, V>();

  get(id: string): V | undefined {
    return this.items.get(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  set(id: string, value: V): void {
    this.assertApplying('set');
    this.recordUndo(id);
    this.items.set(id, value);
  }

  delete(id: string): boolean {
    this.assertApplying('delete');
    this.recordUndo(id);
    return this.items.delete(id);
  }

  /**
   * Puts `id` back as it is now if the entry being applied fails. A deleted id comes back at the end of
   * the iteration order: the same on every node, since every node takes the same steps back.
   */
  private recordUndo(id: string): void {
    if (!this.items.has(id)) {
      recordUndo(() => this.items.delete(id));
      return;
    }
    const previous = this.items.get(id) as V;
    recordUndo(() => this.items.set(id, previous));
  }

  values(): IterableIterator<V> {
    return this.items.values();
  }

  entries(): IterableIterator<[string, V]> {
    return this.items.entries();
  }

  get size(): number {
    return this.items.size;
  }

  snapshot(): unknown {
    return [...this.items.entries()];
  }

  /**
   * A write outside apply would change this replica alone, and the next digest would blame a handler.
   * Refuse it where it happens instead, with the likely cause.
   */
  protected assertApplying(operation: string): void {
    if (isApplying()) return;
    const name = (Reflect.getMetadata(REPLICATED_STATE, this.constructor) as string | undefined) ?? this.constructor.name;
    throw new ReplicatedStateWriteError(
      `${this.constructor.name} ('${name}').${operation}() called outside a Raft apply: a @ReplicatedState store changes only while a replicated command is applied, ` +
        "on every node. Is the command whose handler wrote it marked @Replicated('...')? Without it the command runs on this node only. Reads are fine anywhere.",
    );
  }

  restore(state: unknown): void {
    this.items.clear();
    if (state === undefined || state === null) return;
    if (!Array.isArray(state)) throw new Error('InMemoryStore.restore: expected an array of [id, value] pairs');
    for (const pair of state as [string, V][]) this.items.set(pair[0], pair[1]);
  }
}

/** A `@ReplicatedState` store was written outside the apply of a replicated command. */
export class ReplicatedStateWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicatedStateWriteError';
  }
}
