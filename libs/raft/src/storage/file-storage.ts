/*
 * FileStorage: the durable storage of one Raft node, in one directory.
 *
 * Files
 *   wal-<seq:16 hex>.log        WAL segments (record format in record.ts), numbered consecutively
 *   snap-<index>-<term>.snap    the current snapshot (format in snapshot-file.ts); older ones are deleted
 *   *.tmp                       files being written; deleted on open
 *   LOCK                        the pid of the process that has the directory open
 *
 * Writes. Everything goes through one queue, written by one loop, in call order. Consecutive `save()`s
 * waiting in the queue are encoded into one buffer, written with one pwrite at the end of the current
 * segment and synced once (group commit); a `save()` resolves only after that sync. Two sync modes:
 * 'dsync' (default) opens segments with O_DSYNC, so the pwrite itself returns only once the data (and
 * the file size) are on disk: the same guarantee as write + fdatasync, in one system call and one trip
 * through the thread pool instead of two. 'fdatasync' does pwrite then fdatasync. Either way there is
 * one sync per batch, never one per entry, and all I/O is asynchronous (libuv thread pool): timers run
 * while a sync is in flight.
 *
 * Hard state lives in the WAL, as a record written after the entries of the same `save()`. Why not a
 * small file replaced atomically: the core changes the hard state in almost every Ready (the commit
 * index moves with every batch), and temp file + fsync + rename + directory fsync would cost three
 * syncs on top of the WAL's one. As a record it is durable with the same single sync as the entries,
 * and atomic by the record checksum. Order matters because a crash keeps any prefix of a write:
 * - the commit index goes after the entries: a follower's Ready may replace a conflicting tail and
 *   commit the new entries in one write, and a prefix holding that commit but not the entries would
 *   commit the old, replaced ones (the simulator's torn-write fault found this with the record first);
 * - a new term or vote goes before them: when a `save()` changes either and holds entries, a record
 *   with the new term and vote and the commit index already on disk precedes the entries, so any
 *   prefix that holds entries of term T also holds a hard state of term >= T.
 * Every segment starts with a header repeating the latest hard state, so deleting old segments never
 * loses it. A vote is durable before `save()` resolves, hence before the runtime sends
 * the vote (it goes in `messagesAfterPersist`).
 *
 * Truncation of a conflicting tail is not a separate step: `save()` appends the new entries, and an
 * entry record whose index is at or below the last stored index means, on replay, "drop the entries
 * from here on, then append". The WAL is append-only (nothing is rewritten in place), so a crash at
 * any moment leaves a durable prefix of the records written: either no new entry record survived (the
 * old log, untouched) or the first k of them did (the old log truncated at entries[0].index followed
 * by k new entries). Both are logs the node could have had if the leader had sent fewer entries, and
 * neither was acknowledged, so no acknowledged state is lost. Replaced records stay in their segment
 * until the segment is deleted.
 *
 * Snapshots. `beginSnapshot` writes chunks at their offsets into a temporary file (streamed, never
 * held whole in memory). `commit()` enters the write queue (so no save runs in between): it appends
 * the trailer, fsyncs, renames to the final name, fsyncs the directory; then appends a snapshot marker
 * record to the WAL saying which entries stay (those after meta.index when the stored entry there has
 * meta.term, otherwise none), syncs it, and only then deletes older snapshot files and the segments
 * the snapshot wholly covers. A crash between the rename and the marker is repaired on open by
 * applying the same rule (no write can have happened in between) and writing the marker.
 *
 * Segments. A new segment is started when the batch would push the current one past `segmentBytes`
 * (a single batch larger than that gets a segment of its own). It is created under a temporary name
 * with its header (segment number, the log's base and last entry, the hard state), synced, renamed,
 * the directory synced; then the old segment gets a seal record naming its successor. A sealed last
 * segment means the next one was deleted: recovery refuses to start. Segment s is deleted once the
 * log at the start of a later segment lay entirely within the snapshot (that later segment's header
 * says lastIndex <= snapshot index): replay can then start from that later segment's header.
 *
 * Recovery (open) is in recovery.ts: the newest snapshot, a replay of the segments from the one it
 * starts in, a torn tail cut off the last segment, anything else damaged refused ('corrupt', naming
 * the file and byte offset), interrupted rollovers and snapshot commits finished.
 *
 * Failures. If a write or sync fails (ENOSPC, EIO, ...), the storage stops accepting writes: that call
 * and every later write reject with a StorageError ('failed') naming the error and file; reads of what
 * was durably written keep working. Retrying after a failed fsync is unsafe (the kernel may have dropped
 * the dirty pages), so the remedy is a restart, whose recovery cuts any partly written record.
 */
import * as path from 'path';
import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { EntryIndex } from './entry-index';
import { errnoCode, FsLayer, fsyncDir, nodeFs } from './fs-layer';
import { lockDirectory, unlockDirectory } from './lock';
import { decodeRecord, encodeSeal, encodeSnapshotMarker, entryRecordBytes, hardStateRecordBytes, putEntry, putHardState, segmentName } from './record';
import { recoverDirectory } from './recovery';
import { READ_CHUNK, SnapshotFile, snapshotName } from './snapshot-file';
import { FileSnapshotWriter, SnapshotWriterPort } from './snapshot-writer';
import { consoleLogger, LoadedState, RaftStorage, SnapshotWriter, StorageError, StorageLogger } from './types';
import { validateEntries, validateHardState, validateSnapshotMeta } from './validate';
import { corrupt, describeDecodeFailure } from './wal-damage';
import { createSegmentFile, Segment, SegmentAppender } from './wal-segment';

export interface FileStorageOptions {
  /** A new segment is started when a write would take the current one past this size. Default 64 MiB. */
  segmentBytes?: number;
  logger?: StorageLogger;
  /** How writes are made durable; see the header comment. Default 'dsync'. */
  sync?: 'dsync' | 'fdatasync';
  /** Verify the snapshot's data checksum on open (reads it whole, in chunks). Default true. */
  verifySnapshotOnOpen?: boolean;
  /** File operations; tests substitute their own. */
  fs?: FsLayer;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

interface SaveOp {
  kind: 'save';
  hardState: HardState | null;
  entries: Entry[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface SnapshotOp {
  kind: 'snapshot';
  writer: FileSnapshotWriter;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type Op = SaveOp | SnapshotOp;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

export class FileStorage implements RaftStorage {
  private readonly fs: FsLayer;
  private readonly logger: StorageLogger;
  private readonly segmentBytes: number;
  private readonly dsync: boolean;
  private readonly verifySnapshot: boolean;

  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private failure: StorageError | null = null;

  private snap!: SnapshotFile;
  private hard: HardState = EMPTY_HARD_STATE;
  private last = 0;
  private lastTermV = 0;
  private index = new EntryIndex(1);
  private segments: Segment[] = [];
  /** The segment being appended to (last of `segments`). */
  private cur!: SegmentAppender;

  private queue: Op[] = [];
  private flushing: Promise<void> | null = null;
  private readonly writers = new Set<FileSnapshotWriter>();
  private tmpCounter = 0;
  /** What the snapshot writers call back: the fs, the write refusal and failure, the write queue. */
  private readonly snapshotPort: SnapshotWriterPort;

  constructor(
    readonly dir: string,
    options: FileStorageOptions = {},
  ) {
    this.fs = options.fs ?? nodeFs;
    this.logger = options.logger ?? consoleLogger;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.dsync = (options.sync ?? 'dsync') === 'dsync';
    this.verifySnapshot = options.verifySnapshotOnOpen ?? true;
    if (!(this.segmentBytes > 0)) throw new StorageError('invalid', `segmentBytes must be positive, got ${options.segmentBytes}`);
    this.snapshotPort = {
      fs: this.fs,
      refusal: () => this.refuseWrite(),
      failed: (err, file) => this.fail(err, 'writing snapshot', file),
      commit: (writer) => this.enqueueCommit(writer),
      finished: (writer) => this.writers.delete(writer),
    };
  }

  private p(name: string): string {
    return path.join(this.dir, name);
  }

  // ------------------------------------------------------------------ open

  async open(initial: SnapshotMeta): Promise<LoadedState> {
    if (this.state !== 'new') throw new StorageError('invalid', `open() on a storage that is ${this.state}`);
    this.state = 'opening';
    validateSnapshotMeta(initial);
    await this.fs.mkdir(this.dir);
    await lockDirectory(this.fs, this.dir);
    try {
      const recovered = await recoverDirectory(
        { fs: this.fs, dir: this.dir, logger: this.logger, dsync: this.dsync, verifySnapshot: this.verifySnapshot },
        initial,
      );
      this.snap = recovered.snapshot;
      this.hard = recovered.hardState;
      this.last = recovered.last;
      this.lastTermV = recovered.lastTerm;
      this.index = recovered.index;
      this.segments = recovered.segments;
      this.cur = recovered.appender;
      this.state = 'open';
      return { hardState: { ...this.hard }, snapshot: this.snap.meta, entries: recovered.entries };
    } catch (err) {
      // Recovery has released what it opened; the directory stays as it is for inspection.
      this.state = 'closed';
      await unlockDirectory(this.fs, this.dir);
      throw err;
    }
  }

  // ------------------------------------------------------------------ writes

  save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    const refused = this.refuseWrite();
    if (refused !== null) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'save', hardState, entries, resolve, reject });
      this.kick();
    });
  }

  private refuseWrite(): StorageError | null {
    if (this.state === 'closed') return new StorageError('closed', `storage ${this.dir} is closed`);
    if (this.state !== 'open') return new StorageError('invalid', `storage ${this.dir} is not open`);
    return this.failure;
  }

  private kick(): void {
    if (this.flushing === null) this.flushing = this.flushLoop();
  }

  /** Writes queued operations until the queue is empty; `flushing` is cleared in the same turn as the last check. */
  private async flushLoop(): Promise<void> {
    await null; // never finish synchronously, before kick() has stored this promise
    for (;;) {
      if (this.queue.length === 0) {
        this.flushing = null;
        return;
      }
      if (this.failure !== null) {
        for (const op of this.queue.splice(0)) op.reject(this.failure);
        continue;
      }
      if (this.queue[0].kind === 'snapshot') {
        const op = this.queue.shift() as SnapshotOp;
        try {
          await this.commitSnapshot(op.writer);
          op.resolve();
        } catch (err) {
          op.reject(err);
        }
        continue;
      }
      const batch: SaveOp[] = [];
      while (this.queue.length > 0 && this.queue[0].kind === 'save') batch.push(this.queue.shift() as SaveOp);
      await this.writeSaves(batch);
    }
  }

  private async writeSaves(batch: SaveOp[]): Promise<void> {
    // Validate against the log as each save in turn will leave it.
    const accepted: SaveOp[] = [];
    /** Per accepted save: the hard state record that goes before its entries (a new term or vote), or null. */
    const leading: (HardState | null)[] = [];
    let written = this.hard;
    let last = this.last;
    let bytes = 0;
    for (const op of batch) {
      try {
        if (op.hardState !== null) validateHardState(op.hardState);
        validateEntries(op.entries, this.snap.meta.index, last);
      } catch (err) {
        op.reject(err);
        continue;
      }
      accepted.push(op);
      const hs = op.hardState;
      const lead = hs !== null && op.entries.length > 0 && (hs.term !== written.term || hs.vote !== written.vote) ? { term: hs.term, vote: hs.vote, commit: written.commit } : null;
      leading.push(lead);
      if (lead !== null) bytes += hardStateRecordBytes(lead);
      if (hs !== null) {
        bytes += hardStateRecordBytes(hs);
        written = hs;
      }
      for (const e of op.entries) bytes += entryRecordBytes(e);
      if (op.entries.length > 0) last = op.entries[op.entries.length - 1].index;
    }
    if (bytes === 0) {
      for (const op of accepted) op.resolve();
      return;
    }
    try {
      if (this.cur.size + bytes > this.segmentBytes && this.cur.size > this.cur.headerSize) await this.rollover();
    } catch (err) {
      const failure = this.fail(err, 'starting a new WAL segment after', this.cur.file);
      for (const op of accepted) op.reject(failure);
      return;
    }
    const buf = Buffer.allocUnsafe(bytes);
    const seq = this.cur.seq;
    const base = this.cur.size;
    const locs: number[] = [];
    let at = 0;
    accepted.forEach((op, i) => {
      const lead = leading[i];
      if (lead !== null) at = putHardState(buf, at, lead);
      for (const e of op.entries) {
        locs.push(base + at);
        at = putEntry(buf, at, e);
      }
      if (op.hardState !== null) at = putHardState(buf, at, op.hardState);
    });
    try {
      await this.cur.append(buf);
    } catch (err) {
      const failure = this.fail(err, 'appending to', this.cur.file);
      for (const op of accepted) op.reject(failure);
      return;
    }
    // Durable: now it is part of the log.
    let k = 0;
    for (const op of accepted) {
      if (op.hardState !== null) this.hard = { ...op.hardState };
      const es = op.entries;
      if (es.length === 0) continue;
      this.index.truncateFrom(es[0].index);
      for (const e of es) {
        this.index.push(seq, locs[k], entryRecordBytes(e), e.term);
        k++;
      }
      this.last = es[es.length - 1].index;
      this.lastTermV = es[es.length - 1].term;
    }
    for (const op of accepted) op.resolve();
  }

  private async rollover(): Promise<void> {
    const seq = this.cur.seq + 1;
    const { fd, size } = await createSegmentFile(
      this.fs,
      this.dir,
      {
        seq,
        baseIndex: this.snap.meta.index,
        baseTerm: this.snap.meta.term,
        lastIndex: this.last,
        lastTerm: this.lastTermV,
        hardState: this.hard,
      },
      this.dsync,
    );
    // The successor is durable: now seal the old segment, so that losing the successor would be noticed.
    await this.cur.append(encodeSeal(seq));
    const seg = new Segment(this.fs, seq, this.p(segmentName(seq)), this.last);
    this.segments.push(seg);
    this.cur = new SegmentAppender(this.fs, seg, fd, size, size, this.dsync);
    await this.deleteCoveredSegments();
  }

  private fail(err: unknown, what: string, file: string): StorageError {
    if (this.failure === null) {
      const code = errnoCode(err);
      const msg = err instanceof Error ? err.message : String(err);
      this.failure = new StorageError(
        'failed',
        `storage stopped accepting writes: ${code} while ${what} ${file} (${msg}). What was durably written ` +
          `stays readable; fix the disk and restart the node (recovery cuts off any partly written record).`,
        file,
        undefined,
        err,
      );
      this.logger.warn(this.failure.message);
    }
    return this.failure;
  }

  // ------------------------------------------------------------------ snapshots

  beginSnapshot(meta: SnapshotMeta): SnapshotWriter {
    validateSnapshotMeta(meta);
    const writer = new FileSnapshotWriter(this.snapshotPort, meta, this.p(`${snapshotName(meta.index, meta.term)}.${++this.tmpCounter}.tmp`));
    this.writers.add(writer);
    return writer;
  }

  /** Queues a writer's commit behind the writes made before it. */
  private enqueueCommit(writer: FileSnapshotWriter): Promise<void> {
    const refused = this.refuseWrite();
    if (refused !== null) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'snapshot', writer, resolve, reject });
      this.kick();
    });
  }

  private async commitSnapshot(w: FileSnapshotWriter): Promise<void> {
    const meta = w.meta;
    if (meta.index <= this.snap.meta.index) {
      this.logger.info(`snapshot ${meta.index}/${meta.term} is not newer than ${this.snap.meta.index}: discarded`);
      await w.abort();
      return;
    }
    const file = this.p(snapshotName(meta.index, meta.term));
    let next: SnapshotFile;
    try {
      await w.finish(file);
      await fsyncDir(this.fs, this.dir);
      next = await SnapshotFile.open(this.fs, file, false);
    } catch (err) {
      throw err instanceof StorageError ? err : this.fail(err, 'committing snapshot', file);
    }
    const keep = meta.index <= this.last && this.termAt(meta.index) === meta.term;
    const keptLast = keep ? this.last : meta.index;
    try {
      await this.cur.append(encodeSnapshotMarker(meta.index, meta.term, keptLast));
    } catch (err) {
      next.retire();
      throw this.fail(err, 'appending a snapshot marker to', this.cur.file);
    }
    if (keep) {
      this.index.dropThrough(meta.index);
    } else {
      this.index.reset(meta.index + 1);
      this.last = meta.index;
      this.lastTermV = meta.term;
    }
    const old = this.snap;
    this.snap = next;
    old.retire();
    await this.fs.unlink(old.file).catch((err) => this.logger.warn(`could not delete ${old.file}: ${String(err)}`));
    await this.deleteCoveredSegments();
  }

  private termAt(index: number): number {
    if (index === this.snap.meta.index) return this.snap.meta.term;
    return this.index.has(index) ? this.index.term(index) : -1;
  }

  /** Deletes the segments before the newest one that began within the snapshot. */
  private async deleteCoveredSegments(): Promise<void> {
    try {
      await this.deleteSegmentsBefore();
    } catch (err) {
      this.logger.warn(`could not delete WAL segments covered by snapshot ${this.snap.meta.index}: ${String(err)}`);
    }
  }

  private async deleteSegmentsBefore(): Promise<void> {
    let keepFrom = 0;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      if (this.segments[i].headerLastIndex <= this.snap.meta.index) {
        keepFrom = i;
        break;
      }
    }
    if (keepFrom === 0) return;
    const doomed = this.segments.splice(0, keepFrom);
    for (const seg of doomed) await seg.delete();
    await fsyncDir(this.fs, this.dir);
  }

  readSnapshot(offset: number, length: number): Promise<Uint8Array> {
    if (this.state !== 'open') return Promise.reject(new StorageError('closed', 'storage is not open'));
    return this.snap.read(offset, length);
  }

  snapshotChunks(chunkSize = READ_CHUNK): AsyncIterableIterator<Uint8Array> {
    if (this.state !== 'open') throw new StorageError('closed', 'storage is not open');
    return this.snap.chunks(chunkSize);
  }

  snapshotMeta(): SnapshotMeta {
    return this.snap.meta;
  }

  // ------------------------------------------------------------------ reads

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  /** The durable hard state. */
  hardState(): HardState {
    return { ...this.hard };
  }

  async readEntries(lo: number, hi: number): Promise<Entry[]> {
    if (this.state !== 'open') throw new StorageError('closed', 'storage is not open');
    if (hi < lo) return [];
    if (lo < this.firstIndex() || hi > this.last) {
      throw new StorageError('invalid', `readEntries(${lo}, ${hi}) outside the stored log [${this.firstIndex()}, ${this.last}]`);
    }
    const out: Entry[] = [];
    let i = lo;
    while (i <= hi) {
      // One read for a run of records of the same segment that lie close together.
      const seq = this.index.seq(i);
      const start = this.index.offset(i);
      let end = start + this.index.length(i);
      let j = i;
      while (j < hi && this.index.seq(j + 1) === seq) {
        const o = this.index.offset(j + 1);
        if (o < end || o - end > 4096 || o + this.index.length(j + 1) - start > 4 << 20) break;
        end = o + this.index.length(j + 1);
        j++;
      }
      const offsets: number[] = [];
      for (let k = i; k <= j; k++) offsets.push(this.index.offset(k));
      const seg = this.segments.find((s) => s.seq === seq);
      if (seg === undefined) throw new Error(`entry ${i} is in segment ${seq}, which is not open`);
      const buf = await seg.read(start, end - start);
      for (let k = i; k <= j; k++) {
        const at = offsets[k - i] - start;
        const res = decodeRecord(buf, at);
        if (!res.ok || res.record.type !== 'entry' || res.record.entry.index !== k) {
          throw corrupt(seg.file, start + at, `reading entry ${k}: ${res.ok ? 'another record is there' : describeDecodeFailure(res)}`);
        }
        out.push(res.record.entry);
      }
      i = j + 1;
    }
    return out;
  }

  // ------------------------------------------------------------------ close

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    while (this.flushing !== null) await this.flushing;
    for (const w of [...this.writers]) await w.abort().catch(() => undefined);
    if (!wasOpen) return;
    for (const seg of this.segments) await seg.close();
    this.snap.retire();
    await unlockDirectory(this.fs, this.dir);
  }
}
