import { isApplying, recordUndo } from './apply-context';
import { REPLICATED_STATE } from './decorators';
import { SetDigest } from './set-digest';

/**
 * State that the replicated state machine snapshots, restores and digests. `snapshot()` returns a
 * JSON-serialisable value; `restore(value)` replaces the whole state with it (`restore(undefined)`
 * empties it). Both are called only between applies.
 */
export interface ReplicatedStateStore {
  snapshot(): unknown;
  restore(state: unknown): void;
  /**
   * Optional: a digest of the state, equal on replicas with equal state, cheaper than hashing
   * `snapshot()` (which is what is done without it, every `digestInterval` entries).
   */
  digest?(): string;
}

/**
 * A ready replicated store for plain in-memory read models: a map from string ids to JSON values.
 * Mutate it only from command handlers (that is, during apply); read it anywhere. Iteration order is
 * insertion order, the same on every node.
 */
export class InMemoryStore<V> implements ReplicatedStateStore {
  protected readonly items = new Map<string, V>();
  /**
   * The digest follows the writes instead of hashing the whole store each time: ids written, or read
   * during apply (a handler may change a value in place), are hashed again at the next digest.
   */
  private readonly entryDigest = new SetDigest();
  private readonly entryHashes = new Map<string, Buffer>();
  private readonly touched = new Set<string>();
  private allTouched = true;

  get(id: string): V | undefined {
    if (isApplying()) this.touched.add(id);
    return this.items.get(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  set(id: string, value: V): void {
    this.assertApplying('set');
    this.keepUndo(id);
    this.touched.add(id);
    this.items.set(id, value);
  }

  delete(id: string): boolean {
    this.assertApplying('delete');
    this.keepUndo(id);
    this.touched.add(id);
    return this.items.delete(id);
  }

  /**
   * Puts `id` back as it is now if the entry being applied fails. A deleted id comes back at the end of
   * the iteration order: the same on every node, since every node takes the same steps back.
   */
  private keepUndo(id: string): void {
    if (!this.items.has(id)) {
      recordUndo(() => {
        this.touched.add(id);
        this.items.delete(id);
      });
      return;
    }
    const previous = this.items.get(id) as V;
    recordUndo(() => {
      this.touched.add(id);
      this.items.set(id, previous);
    });
  }

  /** The digest of the entries (not of their order): only ids touched since the last one are hashed again. */
  digest(): string {
    if (this.allTouched) {
      this.entryDigest.clear();
      this.entryHashes.clear();
      for (const id of this.items.keys()) this.touched.add(id);
      this.allTouched = false;
    }
    for (const id of this.touched) {
      const old = this.entryHashes.get(id);
      if (old !== undefined) this.entryDigest.remove(old);
      if (this.items.has(id)) {
        const h = SetDigest.hash(JSON.stringify([id, this.items.get(id)]) ?? '');
        this.entryHashes.set(id, h);
        this.entryDigest.add(h);
      } else {
        this.entryHashes.delete(id);
      }
    }
    this.touched.clear();
    return this.entryDigest.value();
  }

  values(): IterableIterator<V> {
    // Values handed out during apply may be changed in place: hash everything again next time.
    if (isApplying()) this.allTouched = true;
    return this.items.values();
  }

  entries(): IterableIterator<[string, V]> {
    if (isApplying()) this.allTouched = true;
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
    this.allTouched = true;
    this.touched.clear();
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
