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
    this.items.set(id, value);
  }

  delete(id: string): boolean {
    return this.items.delete(id);
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

  restore(state: unknown): void {
    this.items.clear();
    if (state === undefined || state === null) return;
    if (!Array.isArray(state)) throw new Error('InMemoryStore.restore: expected an array of [id, value] pairs');
    for (const pair of state as [string, V][]) this.items.set(pair[0], pair[1]);
  }
}
