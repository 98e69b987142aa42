import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { LoadedState, RaftStorage, SnapshotWriter, StorageError } from './types';
import { validateEntries, validateHardState, validateSnapshotMeta } from './validate';

export interface MemoryStorageOptions {
  /** Awaited before each write takes effect: lets tests and simulators model sync latency. */
  delay?: () => Promise<void>;
}

/**
 * In-memory storage with the same interface and the same semantics as `FileStorage` (order of
 * writes, validation, snapshot rules), for tests and the simulator. What it holds survives `close()`:
 * `open()` again on the same instance models a restart.
 */
export class MemoryStorage implements RaftStorage {
  private isOpen = false;
  private hard: HardState | null = null;
  private snap: SnapshotMeta | null = null;
  private snapData: Uint8Array = new Uint8Array(0);
  private entries: Entry[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: MemoryStorageOptions = {}) {}

  async open(initial: SnapshotMeta): Promise<LoadedState> {
    if (this.isOpen) throw new StorageError('invalid', 'open() on an open storage');
    validateSnapshotMeta(initial);
    if (this.snap === null) {
      if (initial.size !== 0) throw new StorageError('invalid', `the initial snapshot must be empty (size 0), got size ${initial.size}`);
      this.snap = initial;
      this.hard = { term: 0, vote: null, commit: initial.index };
    }
    this.isOpen = true;
    return { hardState: { ...this.hard! }, snapshot: this.snap, entries: this.entries.slice() };
  }

  private enqueue(run: () => void): Promise<void> {
    if (!this.isOpen) return Promise.reject(new StorageError('closed', 'storage is not open'));
    const p = this.chain.then(async () => {
      if (this.options.delay !== undefined) await this.options.delay();
      else await Promise.resolve();
      run();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    return this.enqueue(() => {
      if (hardState !== null) validateHardState(hardState);
      validateEntries(entries, this.snap!.index, this.lastIndex());
      if (hardState !== null) this.hard = { ...hardState };
      if (entries.length > 0) {
        this.entries.length = entries[0].index - this.snap!.index - 1;
        for (const e of entries) this.entries.push(e);
      }
    });
  }

  beginSnapshot(meta: SnapshotMeta): SnapshotWriter {
    validateSnapshotMeta(meta);
    const data = new Uint8Array(meta.size);
    let written = 0;
    let state: 'open' | 'done' = 'open';
    return {
      meta,
      write: (offset, bytes) => {
        if (state !== 'open') return Promise.reject(new StorageError('invalid', `snapshot ${meta.index} writer is finished`));
        return Promise.resolve().then(() => {
          if (!Number.isSafeInteger(offset) || offset < 0 || offset > written) {
            throw new StorageError('invalid', `snapshot chunk at ${offset} leaves a gap (${written} bytes written so far)`);
          }
          if (offset + bytes.length > meta.size) {
            throw new StorageError('invalid', `snapshot chunk [${offset}, ${offset + bytes.length}) goes past its size ${meta.size}`);
          }
          data.set(bytes, offset);
          written = Math.max(written, offset + bytes.length);
        });
      },
      commit: () => {
        if (state !== 'open') return Promise.reject(new StorageError('invalid', `snapshot ${meta.index} writer is not open`));
        if (written !== meta.size) {
          return Promise.reject(new StorageError('invalid', `snapshot ${meta.index}: ${written} of ${meta.size} bytes written, cannot commit`));
        }
        state = 'done';
        return this.enqueue(() => {
          const snap = this.snap!;
          if (meta.index <= snap.index) return;
          const at = meta.index - snap.index - 1;
          const keep = meta.index <= this.lastIndex() && this.entries[at].term === meta.term;
          this.entries = keep ? this.entries.slice(at + 1) : [];
          this.snap = meta;
          this.snapData = data;
        });
      },
      abort: () => {
        state = 'done';
        return Promise.resolve();
      },
    };
  }

  async readSnapshot(offset: number, length: number): Promise<Uint8Array> {
    const size = this.snapData.length;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset > size) {
      throw new StorageError('invalid', `readSnapshot(${offset}, ${length}) outside snapshot of ${size} bytes`);
    }
    return this.snapData.slice(offset, Math.min(size, offset + length));
  }

  async *snapshotChunks(chunkSize = 1 << 20): AsyncIterableIterator<Uint8Array> {
    const data = this.snapData;
    for (let at = 0; at < data.length; at += chunkSize) yield data.slice(at, Math.min(data.length, at + chunkSize));
  }

  snapshotMeta(): SnapshotMeta {
    if (this.snap === null) throw new StorageError('invalid', 'storage was never opened');
    return this.snap;
  }

  firstIndex(): number {
    return this.snapshotMeta().index + 1;
  }

  lastIndex(): number {
    return this.snapshotMeta().index + this.entries.length;
  }

  hardState(): HardState {
    if (this.hard === null) throw new StorageError('invalid', 'storage was never opened');
    return { ...this.hard };
  }

  async readEntries(lo: number, hi: number): Promise<Entry[]> {
    if (hi < lo) return [];
    if (lo < this.firstIndex() || hi > this.lastIndex()) {
      throw new StorageError('invalid', `readEntries(${lo}, ${hi}) outside the stored log [${this.firstIndex()}, ${this.lastIndex()}]`);
    }
    const base = this.snapshotMeta().index + 1;
    return this.entries.slice(lo - base, hi - base + 1);
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    await this.chain;
  }
}
