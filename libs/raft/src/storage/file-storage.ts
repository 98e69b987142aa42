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
 * Hard state lives in the WAL, as a record written before the entries of the same `save()`. Why not a
 * small file replaced atomically: the core changes the hard state in almost every Ready (the commit
 * index moves with every batch), and temp file + fsync + rename + directory fsync would cost three
 * syncs on top of the WAL's one. As a record it is durable with the same single sync as the entries,
 * and atomic by the record checksum. Because the hard state record precedes the entries in the same
 * write, any prefix of an interrupted batch that holds entries of term T also holds the hard state of
 * term >= T. Every segment starts with a header repeating the latest hard state, so deleting old
 * segments never loses it. A vote is durable before `save()` resolves, hence before the runtime sends
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
 * Recovery (open). Picks the newest snapshot file (verified: trailer, metadata and data checksums), the
 * newest segment whose header lies within the snapshot as replay start, requires consecutive segment
 * numbers from there, and replays. In the last segment only, a record the crash interrupted (the file
 * ends inside it, or it is followed by zeros only, or it contains a zero-filled sector) is cut off
 * with a warning saying how many bytes at which offset. Any other bad checksum, gap in indexes,
 * header that does not continue its predecessor, missing segment or missing snapshot stops the open
 * with a StorageError ('corrupt') naming the file and byte offset.
 *
 * Failures. If a write or sync fails (ENOSPC, EIO, ...), the storage stops accepting writes: that call
 * and every later write reject with a StorageError ('failed') naming the error and file; reads of what
 * was durably written keep working. Retrying after a failed fsync is unsafe (the kernel may have dropped
 * the dirty pages), so the remedy is a restart, whose recovery cuts any partly written record.
 */
import * as path from 'path';
import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { crc32 } from './crc32';
import { EntryIndex } from './entry-index';
import { liveHolder, ownIdentity } from './lock';
import { errnoCode, FsLayer, fsyncDir, nodeFs, O, readAt, readWholeFile, writeAll } from './fs-layer';
import {
  decodeRecord,
  encodeHeader,
  encodeSeal,
  encodeSnapshotMarker,
  entryRecordBytes,
  FRAME_BYTES,
  hardStateRecordBytes,
  parseSegmentName,
  putEntry,
  putHardState,
  SegmentHeader,
  segmentName,
} from './record';
import { corrupt, Replayer, tornReason } from './recovery';
import { crcOfFile, encodeTrailer, parseSnapshotName, READ_CHUNK, SnapshotFile, snapshotName } from './snapshot-file';
import { consoleLogger, LoadedState, RaftStorage, SnapshotWriter, StorageError, StorageLogger } from './types';
import { validateEntries, validateHardState, validateSnapshotMeta } from './validate';

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

interface Segment {
  seq: number;
  file: string;
  /** Last index of the log when this segment began (from its header). */
  headerLastIndex: number;
  fd: number | null;
  opening: Promise<number> | null;
  refs: number;
  deleted: boolean;
}

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
  private snapOnOpen: SnapshotFile | null = null;
  private hard: HardState = EMPTY_HARD_STATE;
  private last = 0;
  private lastTermV = 0;
  private index = new EntryIndex(1);
  private segments: Segment[] = [];
  /** The segment being appended to (last of `segments`), opened for writing. */
  private cur!: Segment & { fd: number; size: number; headerSize: number };

  private queue: Op[] = [];
  private flushing: Promise<void> | null = null;
  private readonly writers = new Set<FileSnapshotWriter>();
  private tmpCounter = 0;

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
  }

  private p(name: string): string {
    return path.join(this.dir, name);
  }

  // ------------------------------------------------------------------ open / recovery

  async open(initial: SnapshotMeta): Promise<LoadedState> {
    if (this.state !== 'new') throw new StorageError('invalid', `open() on a storage that is ${this.state}`);
    this.state = 'opening';
    validateSnapshotMeta(initial);
    await this.fs.mkdir(this.dir);
    await this.lock();
    try {
      const loaded = await this.recover(initial);
      this.state = 'open';
      return loaded;
    } catch (err) {
      // Release what recovery opened; the directory stays as it is for inspection.
      this.state = 'closed';
      if (this.cur?.fd !== undefined) await this.fs.close(this.cur.fd).catch(() => undefined);
      this.snapOnOpen?.retire();
      await this.fs.unlink(this.p('LOCK')).catch(() => undefined);
      throw err;
    }
  }

  private async lock(): Promise<void> {
    const file = this.p('LOCK');
    try {
      const holder = await liveHolder((await readWholeFile(this.fs, file)).toString('utf8'));
      if (holder !== null) throw new StorageError('locked', `${this.dir} is in use by process ${holder} (${file})`, file);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const fd = await this.fs.open(file, O.O_WRONLY | O.O_CREAT | O.O_TRUNC);
    try {
      await writeAll(this.fs, fd, Buffer.from(`${await ownIdentity()}\n`), 0);
    } finally {
      await this.fs.close(fd);
    }
  }

  private async listDir(): Promise<{ segs: number[]; snaps: string[] }> {
    const names = await this.fs.readdir(this.dir);
    const segs: number[] = [];
    const snaps: string[] = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) {
        await this.fs.unlink(this.p(name));
        continue;
      }
      const seq = parseSegmentName(name);
      if (seq !== null) segs.push(seq);
      else if (parseSnapshotName(name) !== null) snaps.push(name);
    }
    segs.sort((a, b) => a - b);
    snaps.sort((a, b) => {
      const x = parseSnapshotName(a)!;
      const y = parseSnapshotName(b)!;
      return x.index - y.index || x.term - y.term;
    });
    return { segs, snaps };
  }

  private async recover(initial: SnapshotMeta): Promise<LoadedState> {
    let { segs, snaps } = await this.listDir();
    if (segs.length === 0 && snaps.length === 0) {
      await this.initialize(initial, 1);
      ({ segs, snaps } = await this.listDir());
    } else if (snaps.length === 0) {
      // Initialization writes segment 1 first, then the snapshot: finish it if it stopped in between.
      const only = segs.length === 1 && segs[0] === 1 ? await this.readHeader(1) : null;
      if (only !== null && only.fileSize === only.headerSize) {
        this.logger.warn(`${this.dir}: finishing an initialization that was interrupted`);
        await this.initialize(initial, 0);
        ({ segs, snaps } = await this.listDir());
      } else {
        throw new StorageError('corrupt', `${this.dir} holds WAL segments but no snapshot file: the snapshot was deleted`, this.dir);
      }
    }
    if (segs.length === 0) {
      throw new StorageError('corrupt', `${this.dir} holds a snapshot but no WAL segment: the WAL (and the hard state) was deleted`, this.dir);
    }

    const snapName = snaps[snaps.length - 1];
    const snap = await SnapshotFile.open(this.fs, this.p(snapName), this.verifySnapshot);
    this.snapOnOpen = snap;
    const meta = snap.meta;

    // Replay from the newest segment whose header lies within the snapshot.
    const headers = new Map<number, SegmentHeader>();
    const headerOnly = new Map<number, { headerSize: number; only: boolean }>();
    for (const seq of segs) {
      const h = await this.readHeader(seq);
      headers.set(seq, h.header);
      headerOnly.set(seq, { headerSize: h.headerSize, only: h.fileSize === h.headerSize });
    }
    let startAt = -1;
    for (let i = segs.length - 1; i >= 0; i--) {
      if (headers.get(segs[i])!.lastIndex <= meta.index) {
        startAt = i;
        break;
      }
    }
    if (startAt < 0) {
      const h = headers.get(segs[0])!;
      throw corrupt(
        this.p(segmentName(segs[0])),
        0,
        `this segment starts after entry ${h.lastIndex} but the snapshot only covers up to ${meta.index}: ` +
          `the segment before it (${segmentName(segs[0] - 1)}) is missing`,
      );
    }
    const live = segs.slice(startAt);
    for (let i = 1; i < live.length; i++) {
      if (live[i] !== live[i - 1] + 1) {
        throw corrupt(this.p(segmentName(live[i])), 0, `the segment before it, ${segmentName(live[i] - 1)}, is missing`);
      }
    }

    const rep = new Replayer(meta.index, headers.get(live[0])!);
    const lastSeq = live[live.length - 1];
    let cutAt: { seq: number; offset: number } | null = null;
    let sealAt: { seq: number; offset: number } | null = null;
    let lastSize = 0;
    const lastIsHeaderOnly = live.length > 1 && headerOnly.get(lastSeq)!.only;
    for (const seq of live) {
      const file = this.p(segmentName(seq));
      const buf = await readWholeFile(this.fs, file);
      const isLast = seq === lastSeq;
      // The segment before a header-only last segment may lack its seal (crash during a rollover).
      const mayBeUnsealed = seq === lastSeq - 1 && lastIsHeaderOnly;
      const first = decodeRecord(buf, 0);
      if (!first.ok || first.record.type !== 'header') throw corrupt(file, 0, 'no valid segment header');
      if (seq !== live[0]) rep.checkHeader(first.record.header, file);
      let at = first.end;
      let sealed = false;
      while (at < buf.length) {
        const res = decodeRecord(buf, at, buf.length, false);
        if (!res.ok) {
          const torn = isLast || mayBeUnsealed ? tornReason(buf, at, res) : null;
          if (torn === null) throw corrupt(file, at, describe(res));
          this.logger.warn(
            `${file}: cut off ${buf.length - at} bytes at byte offset ${at} (${torn}); ` +
              `they were never acknowledged. Log ends at entry ${rep.last}.`,
          );
          cutAt = { seq, offset: at };
          break;
        }
        const rec = res.record;
        if (sealed) throw corrupt(file, at, 'data after the seal record');
        switch (rec.type) {
          case 'entry':
            rep.entry(rec.entry, { seq, offset: at, length: res.end - at }, file, copyEntry);
            break;
          case 'hardState':
            rep.hardState = rec.hardState;
            break;
          case 'snapshot':
            rep.snapshot(rec.index, rec.term, rec.keptLast, file, at);
            break;
          case 'seal':
            if (rec.nextSeq !== seq + 1) throw corrupt(file, at, `seal names segment ${rec.nextSeq}, expected ${seq + 1}`);
            sealed = true;
            break;
          case 'header':
            throw corrupt(file, at, 'a second segment header');
        }
        at = res.end;
      }
      if (isLast) {
        if (sealed) {
          throw corrupt(file, at, `this segment is sealed but the segment after it, ${segmentName(seq + 1)}, is missing`);
        }
        lastSize = cutAt !== null && cutAt.seq === seq ? cutAt.offset : buf.length;
      } else if (!sealed) {
        if (!mayBeUnsealed) throw corrupt(file, at, `segment ends without its seal although ${segmentName(seq + 1)} follows`);
        sealAt = { seq, offset: cutAt !== null && cutAt.seq === seq ? cutAt.offset : buf.length };
        cutAt = null;
      }
    }
    const fin = rep.finish(meta, this.p(segmentName(lastSeq)));

    // Install the recovered state.
    this.snap = snap;
    this.hard = rep.hardState;
    this.last = fin.last;
    this.lastTermV = fin.lastTerm;
    this.index = new EntryIndex(meta.index + 1);
    for (let i = 0; i < fin.locs.length; i++) this.index.push(fin.locs[i].seq, fin.locs[i].offset, fin.locs[i].length, fin.entries[i].term);
    this.segments = live.map((seq) => ({
      seq,
      file: this.p(segmentName(seq)),
      headerLastIndex: headers.get(seq)!.lastIndex,
      fd: null,
      opening: null,
      refs: 0,
      deleted: false,
    }));

    // Repairs, each durable before we go on.
    if (sealAt !== null) {
      const fd = await this.fs.open(this.p(segmentName(sealAt.seq)), O.O_RDWR);
      try {
        await this.fs.ftruncate(fd, sealAt.offset);
        await writeAll(this.fs, fd, encodeSeal(sealAt.seq + 1), sealAt.offset);
        await this.fs.fsync(fd);
      } finally {
        await this.fs.close(fd);
      }
      this.logger.warn(`${this.p(segmentName(sealAt.seq))}: sealed (a segment rollover was interrupted)`);
    }
    const lastSeg = this.segments[this.segments.length - 1];
    const fd = await this.fs.open(lastSeg.file, O.O_RDWR | (this.dsync ? O.O_DSYNC : 0));
    this.cur = Object.assign(lastSeg, { fd, size: lastSize, headerSize: headerOnly.get(lastSeg.seq)!.headerSize });
    if (cutAt !== null) {
      await this.fs.ftruncate(fd, cutAt.offset);
      await this.fs.fsync(fd);
    }
    if (fin.needsMarker !== null) {
      this.logger.warn(`${lastSeg.file}: recording snapshot ${meta.index}/${meta.term} (the node stopped right after making it durable)`);
      await this.durableAppend(encodeSnapshotMarker(meta.index, meta.term, fin.needsMarker));
    }

    // Leftovers of interrupted clean-ups: older snapshots, segments before the replay start.
    for (const name of snaps) if (name !== snapName) await this.fs.unlink(this.p(name));
    for (const seq of segs.slice(0, startAt)) await this.fs.unlink(this.p(segmentName(seq)));
    if (snaps.length > 1 || startAt > 0) await fsyncDir(this.fs, this.dir);

    this.snapOnOpen = null;
    return { hardState: { ...this.hard }, snapshot: meta, entries: fin.entries };
  }

  /** Creates segment 1 (when `firstSeq` is 1) and the initial snapshot file. */
  private async initialize(initial: SnapshotMeta, firstSeq: number): Promise<void> {
    if (initial.size !== 0) throw new StorageError('invalid', `the initial snapshot must be empty (size 0), got size ${initial.size}`);
    if (firstSeq === 1) {
      const created = await this.createSegment(1, {
        seq: 1,
        baseIndex: initial.index,
        baseTerm: initial.term,
        lastIndex: initial.index,
        lastTerm: initial.term,
        hardState: { term: 0, vote: null, commit: initial.index },
      });
      await this.fs.close(created.fd);
    }
    const tmp = this.p(`${snapshotName(initial.index, initial.term)}.init.tmp`);
    const fd = await this.fs.open(tmp, O.O_WRONLY | O.O_CREAT | O.O_TRUNC);
    try {
      await writeAll(this.fs, fd, encodeTrailer(initial, 0), 0);
      await this.fs.fsync(fd);
    } finally {
      await this.fs.close(fd);
    }
    await this.fs.rename(tmp, this.p(snapshotName(initial.index, initial.term)));
    await fsyncDir(this.fs, this.dir);
  }

  /** Writes a segment with just its header under a temporary name, syncs, renames, syncs the directory. Returns the open fd. */
  private async createSegment(seq: number, header: SegmentHeader): Promise<{ fd: number; size: number }> {
    const file = this.p(segmentName(seq));
    const tmp = `${file}.tmp`;
    const buf = encodeHeader(header);
    const fd = await this.fs.open(tmp, O.O_RDWR | O.O_CREAT | O.O_TRUNC | (this.dsync ? O.O_DSYNC : 0));
    try {
      await writeAll(this.fs, fd, buf, 0);
      await this.fs.fsync(fd);
      await this.fs.rename(tmp, file);
      await fsyncDir(this.fs, this.dir);
    } catch (err) {
      await this.fs.close(fd).catch(() => undefined);
      throw err;
    }
    return { fd, size: buf.length };
  }

  private async readHeader(seq: number): Promise<{ header: SegmentHeader; headerSize: number; fileSize: number }> {
    const file = this.p(segmentName(seq));
    const fd = await this.fs.open(file, O.O_RDONLY);
    try {
      const fileSize = await this.fs.fstatSize(fd);
      let buf = await readAt(this.fs, fd, 0, 4096);
      if (buf.length >= 4 && buf.readUInt32LE(0) + FRAME_BYTES > buf.length && buf.length === 4096) {
        buf = await readAt(this.fs, fd, 0, Math.min(buf.readUInt32LE(0) + FRAME_BYTES, 1 << 20));
      }
      const res = decodeRecord(buf, 0);
      if (!res.ok || res.record.type !== 'header') throw corrupt(file, 0, 'no valid segment header');
      if (res.record.header.seq !== seq) throw corrupt(file, 0, `header says segment ${res.record.header.seq}`);
      return { header: res.record.header, headerSize: res.end, fileSize };
    } finally {
      await this.fs.close(fd);
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
      if (op.hardState !== null) bytes += hardStateRecordBytes(op.hardState);
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
    for (const op of accepted) {
      if (op.hardState !== null) at = putHardState(buf, at, op.hardState);
      for (const e of op.entries) {
        locs.push(base + at);
        at = putEntry(buf, at, e);
      }
    }
    try {
      await this.durableAppend(buf);
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

  /** Appends `buf` at the end of the current segment and returns once it is durable. */
  private async durableAppend(buf: Buffer): Promise<void> {
    const cur = this.cur;
    await writeAll(this.fs, cur.fd, buf, cur.size);
    cur.size += buf.length;
    if (!this.dsync) await this.fs.fdatasync(cur.fd);
  }

  private async rollover(): Promise<void> {
    const seq = this.cur.seq + 1;
    const { fd, size } = await this.createSegment(seq, {
      seq,
      baseIndex: this.snap.meta.index,
      baseTerm: this.snap.meta.term,
      lastIndex: this.last,
      lastTerm: this.lastTermV,
      hardState: this.hard,
    });
    // The successor is durable: now seal the old segment, so that losing the successor would be noticed.
    await this.durableAppend(encodeSeal(seq));
    const seg: Segment = { seq, file: this.p(segmentName(seq)), headerLastIndex: this.last, fd: null, opening: null, refs: 0, deleted: false };
    this.segments.push(seg);
    this.cur = Object.assign(seg, { fd, size, headerSize: size });
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
    const writer = new FileSnapshotWriter(this, meta, this.p(`${snapshotName(meta.index, meta.term)}.${++this.tmpCounter}.tmp`));
    this.writers.add(writer);
    return writer;
  }

  /** @internal used by FileSnapshotWriter */
  writerFs(): FsLayer {
    return this.fs;
  }

  /** @internal */
  writerRefused(): StorageError | null {
    return this.refuseWrite();
  }

  /** @internal */
  writerFailed(err: unknown, file: string): StorageError {
    return this.fail(err, 'writing snapshot', file);
  }

  /** @internal */
  writerDone(w: FileSnapshotWriter): void {
    this.writers.delete(w);
  }

  /** @internal */
  enqueueCommit(writer: FileSnapshotWriter): Promise<void> {
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
      await this.durableAppend(encodeSnapshotMarker(meta.index, meta.term, keptLast));
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
    for (const seg of doomed) {
      seg.deleted = true;
      if (seg.refs === 0 && seg.fd !== null) {
        const fd = seg.fd;
        seg.fd = null;
        await this.fs.close(fd);
      }
      await this.fs.unlink(seg.file);
    }
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
      const buf = await this.readSegment(seg, start, end - start);
      for (let k = i; k <= j; k++) {
        const at = offsets[k - i] - start;
        const res = decodeRecord(buf, at);
        if (!res.ok || res.record.type !== 'entry' || res.record.entry.index !== k) {
          throw corrupt(seg.file, start + at, `reading entry ${k}: ${res.ok ? 'another record is there' : describe(res)}`);
        }
        out.push(res.record.entry);
      }
      i = j + 1;
    }
    return out;
  }

  private async readSegment(seg: Segment, offset: number, length: number): Promise<Buffer> {
    seg.refs++;
    try {
      let fd = seg.fd;
      if (fd === null) {
        seg.opening ??= this.fs.open(seg.file, O.O_RDONLY);
        fd = await seg.opening;
        seg.fd = fd;
        seg.opening = null;
      }
      return await readAt(this.fs, fd, offset, length);
    } finally {
      seg.refs--;
      if (seg.deleted && seg.refs === 0 && seg.fd !== null) {
        const fd = seg.fd;
        seg.fd = null;
        void this.fs.close(fd).catch(() => undefined);
      }
    }
  }

  // ------------------------------------------------------------------ close

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    while (this.flushing !== null) await this.flushing;
    for (const w of [...this.writers]) await w.abort().catch(() => undefined);
    if (!wasOpen) return;
    for (const seg of this.segments) {
      if (seg.fd !== null && seg.refs === 0) {
        const fd = seg.fd;
        seg.fd = null;
        await this.fs.close(fd).catch(() => undefined);
      }
    }
    this.snap.retire();
    await this.fs.unlink(this.p('LOCK')).catch(() => undefined);
  }
}

/** Streams a snapshot into a temporary file; committed through the storage's write queue. */
class FileSnapshotWriter implements SnapshotWriter {
  private fd: Promise<number> | null = null;
  private written = 0;
  private crc = 0;
  private crcValid = true;
  private chain: Promise<void> = Promise.resolve();
  private state: 'open' | 'committing' | 'done' = 'open';

  constructor(
    private readonly storage: FileStorage,
    readonly meta: SnapshotMeta,
    private readonly tmp: string,
  ) {}

  private file(): Promise<number> {
    this.fd ??= this.storage.writerFs().open(this.tmp, O.O_RDWR | O.O_CREAT | O.O_TRUNC);
    return this.fd;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (this.state !== 'open') {
      return Promise.reject(new StorageError('invalid', `snapshot ${this.meta.index} writer is ${this.state === 'done' ? 'finished' : 'committing'}`));
    }
    const run = async (): Promise<void> => {
      const refused = this.storage.writerRefused();
      if (refused !== null) throw refused;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.written) {
        throw new StorageError('invalid', `snapshot chunk at ${offset} leaves a gap (${this.written} bytes written so far)`);
      }
      if (offset + data.length > this.meta.size) {
        throw new StorageError('invalid', `snapshot chunk [${offset}, ${offset + data.length}) goes past its size ${this.meta.size}`);
      }
      if (data.length === 0) return;
      try {
        await writeAll(this.storage.writerFs(), await this.file(), data, offset);
      } catch (err) {
        throw this.storage.writerFailed(err, this.tmp);
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
      await this.storage.enqueueCommit(this);
    } finally {
      this.state = 'done';
      this.storage.writerDone(this);
    }
  }

  private async syncData(fd: number): Promise<void> {
    try {
      await this.storage.writerFs().fsync(fd);
    } catch (err) {
      throw this.storage.writerFailed(err, this.tmp);
    }
  }

  /** @internal In the write queue: trailer, fsync, close, rename. */
  async finish(finalFile: string): Promise<void> {
    const fs = this.storage.writerFs();
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
    this.storage.writerDone(this);
    await this.chain;
    const fs = this.storage.writerFs();
    if (this.fd !== null) {
      const fd = await this.fd.catch(() => null);
      this.fd = null;
      if (fd !== null) await fs.close(fd).catch(() => undefined);
      await fs.unlink(this.tmp).catch(() => undefined);
    }
  }
}

function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: new Uint8Array(e.data) };
}

function describe(res: { ok: false; problem: string; detail?: string }): string {
  if (res.problem === 'short') return 'the file ends in the middle of a record';
  return res.detail ?? res.problem;
}
