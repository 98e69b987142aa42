import type { SnapshotMeta } from '../core/types';
import { crc32 } from './crc32';
import { FsLayer, O, writeAll } from './fs-layer';
import { crcOfFile, encodeTrailer } from './snapshot-file';
import { SnapshotWriter, StorageError } from './types';

/**
 * What a snapshot writer needs from the storage that made it. The writer fills a temporary file on
 * its own; making the snapshot current is the storage's job, done in its write queue so that no
 * `save()` runs between the rename and the WAL's snapshot marker.
 */
export interface SnapshotWriterPort {
  readonly fs: FsLayer;
  /** Why the storage accepts no writes now (closed, not open, failed), or null. */
  refusal(): StorageError | null;
  /** A write or sync of the temporary file failed: the storage stops accepting writes; returns the error to throw. */
  failed(err: unknown, file: string): StorageError;
  /** Queues the commit behind the writes made before it; resolves once the snapshot is current (or discarded). */
  commit(writer: FileSnapshotWriter): Promise<void>;
  /** The writer is finished (committed or aborted): the storage no longer needs to abort it on close. */
  finished(writer: FileSnapshotWriter): void;
}

/** Streams a snapshot into a temporary file; committed through the storage's write queue. */
export class FileSnapshotWriter implements SnapshotWriter {
  private fd: Promise<number> | null = null;
  private written = 0;
  private crc = 0;
  private crcValid = true;
  private chain: Promise<void> = Promise.resolve();
  private state: 'open' | 'committing' | 'done' = 'open';

  constructor(
    private readonly port: SnapshotWriterPort,
    readonly meta: SnapshotMeta,
    private readonly tmp: string,
  ) {}

  private file(): Promise<number> {
    this.fd ??= this.port.fs.open(this.tmp, O.O_RDWR | O.O_CREAT | O.O_TRUNC);
    return this.fd;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (this.state !== 'open') {
      return Promise.reject(new StorageError('invalid', `snapshot ${this.meta.index} writer is ${this.state === 'done' ? 'finished' : 'committing'}`));
    }
    const run = async (): Promise<void> => {
      const refused = this.port.refusal();
      if (refused !== null) throw refused;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.written) {
        throw new StorageError('invalid', `snapshot chunk at ${offset} leaves a gap (${this.written} bytes written so far)`);
      }
      if (offset + data.length > this.meta.size) {
        throw new StorageError('invalid', `snapshot chunk [${offset}, ${offset + data.length}) goes past its size ${this.meta.size}`);
      }
      if (data.length === 0) return;
      try {
        await writeAll(this.port.fs, await this.file(), data, offset);
      } catch (err) {
        throw this.port.failed(err, this.tmp);
      }
      if (offset === this.written) {
        this.crc = crc32(data, this.crc);
        this.written += data.length;
      } else {
        this.crcValid = false;
        this.written = Math.max(this.written, offset + data.length);
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw new StorageError('invalid', `snapshot ${this.meta.index} writer is not open`);
    this.state = 'committing';
    await this.chain;
    if (this.written !== this.meta.size) {
      this.state = 'open';
      throw new StorageError('invalid', `snapshot ${this.meta.index}: ${this.written} of ${this.meta.size} bytes written, cannot commit`);
    }
    try {
      // The bulk of the data goes to disk before the commit takes its turn in the write queue, so the
      // log's appends queued behind it wait for a trailer's sync, not for the whole file's.
      if (this.fd !== null) await this.syncData(await this.fd);
      await this.port.commit(this);
    } finally {
      this.state = 'done';
      this.port.finished(this);
    }
  }

  private async syncData(fd: number): Promise<void> {
    try {
      await this.port.fs.fsync(fd);
    } catch (err) {
      throw this.port.failed(err, this.tmp);
    }
  }

  /** Called by the storage from its write queue, when the commit's turn comes: trailer, fsync, close, rename. */
  async finish(finalFile: string): Promise<void> {
    const fs = this.port.fs;
    const fd = await this.file();
    this.fd = null;
    try {
      if (!this.crcValid) this.crc = await crcOfFile(fs, fd, this.meta.size);
      await writeAll(fs, fd, encodeTrailer(this.meta, this.crc), this.meta.size);
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(this.tmp, finalFile);
  }

  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'done';
    this.port.finished(this);
    await this.chain;
    const fs = this.port.fs;
    if (this.fd !== null) {
      const fd = await this.fd.catch(() => null);
      this.fd = null;
      if (fd !== null) await fs.close(fd).catch(() => undefined);
      await fs.unlink(this.tmp).catch(() => undefined);
    }
  }
}
