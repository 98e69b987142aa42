import { isApplying, recordUndo } from './apply-context';
import { REPLICATED_STATE } from '../raft-cluster.constants';
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
  /**
   * Optional: the state as it is now, serialised later in slices while applies go on (the store keeps
   * what an apply is about to change until the slice that needs it). The JSON it produces must be what
   * `JSON.stringify(snapshot())` would have given now. Without it, `snapshot()` is serialised at once.
   */
  openSnapshot?(): StoreSnapshotCursor;
}

/** A snapshot being serialised in slices. */
export interface StoreSnapshotCursor {
  /** JSON of the next items (at most `maxItems`), comma-separated, without brackets; null once all are out. */
  next(maxItems: number): string | null;
  /** JSON text that the items go between: `[` and `]` for an array. */
  readonly open: string;
  readonly close: string;
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
  /** The snapshot being serialised, if any (see `openSnapshot`). */
  private snapshotting: SnapshotInProgress | null = null;

  get(id: string): V | undefined {
    if (isApplying()) {
      this.touched.add(id);
      this.keepForSnapshot(id);
    }
    return this.items.get(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  set(id: string, value: V): void {
    this.assertApplying('set');
    this.keepForSnapshot(id);
    this.keepUndo(id);
    this.touched.add(id);
    this.items.set(id, value);
  }

  delete(id: string): boolean {
    this.assertApplying('delete');
    this.keepForSnapshot(id);
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
    if (isApplying()) this.handOutAll();
    return this.items.values();
  }

  entries(): IterableIterator<[string, V]> {
    if (isApplying()) this.handOutAll();
    return this.items.entries();
  }

  private handOutAll(): void {
    this.allTouched = true;
    const state = this.snapshotting;
    if (state !== null) for (let i = state.next; i < state.ids.length; i++) this.keepForSnapshot(state.ids[i]);
  }

  get size(): number {
    return this.items.size;
  }

  snapshot(): unknown {
    return [...this.items.entries()];
  }

  /**
   * Copy-on-write: the ids are listed now (an array copy, cheap), each item is serialised by a later
   * slice, or at once when an apply is about to change it (or hands it out, since it may be changed in
   * place). One snapshot at a time: opening another drops the one in progress.
   */
  openSnapshot(): StoreSnapshotCursor {
    const state: SnapshotInProgress = { ids: Array.from(this.items.keys()), next: 0, served: new Set(), added: new Set(), before: new Map() };
    this.snapshotting = state;
    return {
      open: '[',
      close: ']',
      next: (maxItems) => {
        if (this.snapshotting !== state) throw new Error('InMemoryStore: the snapshot was dropped (the store was restored or another snapshot began)');
        const end = Math.min(state.ids.length, state.next + maxItems);
        if (state.next === end) {
          this.snapshotting = null;
          return null;
        }
        const texts: string[] = [];
        for (let i = state.next; i < end; i++) {
          const id = state.ids[i];
          state.served.add(id);
          texts.push(state.before.get(id) ?? itemJson(id, this.items.get(id)));
          state.before.delete(id);
        }
        state.next = end;
        return texts.join(',');
      },
    };
  }

  /** Before an apply changes `id` (or may change it in place): keeps its text if the snapshot still needs it. */
  private keepForSnapshot(id: string): void {
    const state = this.snapshotting;
    if (state === null || state.served.has(id) || state.before.has(id) || state.added.has(id)) return;
    // An id here now and not added since the snapshot began was here when it began.
    if (this.items.has(id)) state.before.set(id, itemJson(id, this.items.get(id)));
    else state.added.add(id);
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
    this.snapshotting = null;
    this.items.clear();
    this.allTouched = true;
    this.touched.clear();
    if (state === undefined || state === null) return;
    if (!Array.isArray(state)) throw new Error('InMemoryStore.restore: expected an array of [id, value] pairs');
    for (const pair of state as [string, V][]) this.items.set(pair[0], pair[1]);
  }
}

/**
 * A snapshot being serialised: the ids at its start in iteration order, how many are out, the ids
 * out, the ids added since it began, and the texts of items changed before their slice.
 */
interface SnapshotInProgress {
  ids: string[];
  next: number;
  served: Set<string>;
  added: Set<string>;
  before: Map<string, string>;
}

/** One `[id, value]` pair as `JSON.stringify` writes it inside the snapshot's array. */
function itemJson(id: string, value: unknown): string {
  return JSON.stringify([id, value]) ?? '';
}

/** A `@ReplicatedState` store was written outside the apply of a replicated command. */
export class ReplicatedStateWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicatedStateWriteError';
  }
}
