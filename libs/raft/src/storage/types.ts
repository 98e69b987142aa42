import type { Entry, HardState, SnapshotMeta } from '../core/types';

/** What a node had persisted: the same shape as the core's `PersistentState`. */
export interface LoadedState {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
}

/** A snapshot being received (chunks from the leader) or created (the state machine's own). */
export interface SnapshotWriter {
  readonly meta: SnapshotMeta;
  /**
   * Writes `data` at `offset` of the snapshot's bytes. Chunks must come in order: `offset` may not be
   * beyond the bytes written so far (rewriting earlier bytes is allowed), nor may the chunk end beyond
   * `meta.size`. Nothing is synced yet: `commit()` does that.
   */
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Makes the snapshot durable and current (temporary file synced, renamed, directory synced), then
   * drops the stored entries it covers: entries after `meta.index` are kept only if the stored entry
   * at `meta.index` has term `meta.term`, otherwise all stored entries go (as `RaftLog.restore` /
   * `compact` do). Every byte of [0, meta.size) must have been written. A snapshot no newer than the
   * current one is discarded and `commit()` resolves without changing anything.
   */
  commit(): Promise<void>;
  /** Forgets the snapshot (its temporary file is deleted). */
  abort(): Promise<void>;
}

/**
 * Durable storage of one Raft node: hard state, log entries, snapshot. Calls that write are applied
 * in the order they are made and each resolves only once what it wrote is durable (fdatasync
 * semantics). The runtime makes one call at a time per `Ready`; calls made while another is in flight
 * are queued (and consecutive `save()`s share one sync).
 */
export interface RaftStorage {
  /** Opens / recovers. `initial` (index 0, term 0, the initial configuration) is persisted when the storage is empty. */
  open(initial: SnapshotMeta): Promise<LoadedState>;
  /**
   * Durably writes one `Ready`'s state: truncates the stored entries at `entries[0].index` (that index
   * and all after it go) and appends `entries`; replaces the hard state when one is given. One sync for
   * the whole call. Throws `StorageError` ('invalid') when `entries` are not consecutive, start at or
   * below the snapshot, or leave a gap after the stored log.
   */
  save(hardState: HardState | null, entries: Entry[]): Promise<void>;
  beginSnapshot(meta: SnapshotMeta): SnapshotWriter;
  /** `length` bytes (fewer at the end) at `offset` of the current durable snapshot. */
  readSnapshot(offset: number, length: number): Promise<Uint8Array>;
  /** The current durable snapshot, chunk by chunk (for restoring the state machine without holding it whole). */
  snapshotChunks(chunkSize?: number): AsyncIterableIterator<Uint8Array>;
  snapshotMeta(): SnapshotMeta;
  /** First stored entry index (snapshot index + 1). */
  firstIndex(): number;
  /** Last stored entry index (the snapshot index when no entry is stored). */
  lastIndex(): number;
  /** Stored entries in [lo, hi] (read back from disk by `FileStorage`, through its index). */
  readEntries(lo: number, hi: number): Promise<Entry[]>;
  close(): Promise<void>;
}

export interface StorageLogger {
  info(message: string): void;
  warn(message: string): void;
}

export type StorageErrorCode =
  /** Recovery found damage it must not repair silently (bad checksum, gap, missing file). */
  | 'corrupt'
  /** A write or sync failed (ENOSPC, EIO, ...): the storage accepts no more writes; reads still work. */
  | 'failed'
  /** The caller broke the contract (entries not consecutive, gap, below the snapshot, chunk out of order). */
  | 'invalid'
  | 'closed'
  /** Another live process holds the data directory. */
  | 'locked';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** The file and byte offset the error is about, when there is one. */
    readonly file?: string,
    readonly offset?: number,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export const consoleLogger: StorageLogger = {
  info: (m) => console.log(`[raft-storage] ${m}`),
  warn: (m) => console.warn(`[raft-storage] ${m}`),
};
