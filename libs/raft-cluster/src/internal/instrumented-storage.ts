import type { Entry, HardState, SnapshotMeta } from '@raft-cqrs/raft';
import type { LoadedState, RaftStorage, SnapshotWriter } from '@raft-cqrs/raft/storage';
import type { RaftClusterMetrics } from '../raft-cluster.metrics';

/** Delegates to a storage, timing `save()` (write + sync) and counting snapshots made durable. */
export class InstrumentedStorage implements RaftStorage {
  constructor(
    private readonly inner: RaftStorage,
    private readonly metrics: RaftClusterMetrics,
  ) {}

  open(initial: SnapshotMeta): Promise<LoadedState> {
    return this.inner.open(initial);
  }

  async save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    const end = this.metrics.fsyncLatency.startTimer();
    await this.inner.save(hardState, entries);
    end();
  }

  beginSnapshot(meta: SnapshotMeta): SnapshotWriter {
    const writer = this.inner.beginSnapshot(meta);
    const metrics = this.metrics;
    return {
      meta: writer.meta,
      write: (offset, data) => writer.write(offset, data),
      async commit() {
        await writer.commit();
        metrics.snapshots.inc();
      },
      abort: () => writer.abort(),
    };
  }

  readSnapshot(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.readSnapshot(offset, length);
  }

  snapshotChunks(chunkSize?: number): AsyncIterableIterator<Uint8Array> {
    return this.inner.snapshotChunks(chunkSize);
  }

  snapshotMeta(): SnapshotMeta {
    return this.inner.snapshotMeta();
  }

  firstIndex(): number {
    return this.inner.firstIndex();
  }

  lastIndex(): number {
    return this.inner.lastIndex();
  }

  readEntries(lo: number, hi: number): Promise<Entry[]> {
    return this.inner.readEntries(lo, hi);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
