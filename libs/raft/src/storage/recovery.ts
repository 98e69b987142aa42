/*
 * Recovery: what `FileStorage.open()` does with the directory before it accepts writes.
 *
 * Picks the newest snapshot file (verified: trailer, metadata and data checksums), the newest segment
 * whose header lies within the snapshot as replay start, requires consecutive segment numbers from
 * there, and replays. In the last segment only, a record the crash interrupted (the file ends inside
 * it, or it is followed by zeros only, or it contains a zero-filled sector) is cut off with a warning
 * saying how many bytes at which offset. Any other bad checksum, gap in indexes, header that does not
 * continue its predecessor, missing segment or missing snapshot stops the open with a StorageError
 * ('corrupt') naming the file and byte offset.
 *
 * What the crash of an earlier run can leave half done is finished here, each repair durable before
 * the next: an initialization (segment 1 written, snapshot file not yet), a rollover (the new segment
 * durable, the old one not yet sealed), a snapshot commit (the snapshot file durable, the WAL's marker
 * not yet written), and clean-ups (older snapshot files, segments the snapshot covers, `*.tmp` files).
 */
import * as path from 'path';
import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { EntryIndex } from './entry-index';
import { FsLayer, fsyncDir, O, readWholeFile, writeAll } from './fs-layer';
import { Replayer } from './log-replay';
import { decodeRecord, encodeSeal, encodeSnapshotMarker, parseSegmentName, SegmentHeader, segmentName } from './record';
import { encodeTrailer, parseSnapshotName, SnapshotFile, snapshotName } from './snapshot-file';
import { StorageError, StorageLogger } from './types';
import { corrupt, describeDecodeFailure, tornReason } from './wal-damage';
import { createSegmentFile, openSegmentForAppend, readSegmentHeader, Segment, SegmentAppender } from './wal-segment';

export interface RecoveryOptions {
  fs: FsLayer;
  dir: string;
  logger: StorageLogger;
  /** Segments are appended to with O_DSYNC (FileStorage's 'dsync' mode). */
  dsync: boolean;
  /** Verify the snapshot's data checksum (reads it whole, in chunks). */
  verifySnapshot: boolean;
}

/** The durable state found in the directory, and the open files FileStorage goes on with. */
export interface RecoveredState {
  snapshot: SnapshotFile;
  hardState: HardState;
  last: number;
  lastTerm: number;
  /** Where each entry after the snapshot lies. */
  index: EntryIndex;
  /** The live segments, oldest first; the last one is open for appending. */
  segments: Segment[];
  appender: SegmentAppender;
  entries: Entry[];
}

/**
 * Recovers the directory (persisting `initial` when it is empty). On failure whatever it opened is
 * closed again and the directory is left as it is, for inspection.
 */
export function recoverDirectory(options: RecoveryOptions, initial: SnapshotMeta): Promise<RecoveredState> {
  return new Recovery(options).run(initial);
}

interface SegmentFiles {
  headers: Map<number, SegmentHeader>;
  headerOnly: Map<number, { headerSize: number; only: boolean }>;
  /** Position in `segs` of the segment replay starts from; those before it are covered by the snapshot. */
  startAt: number;
  /** The segments replayed: consecutive numbers from the replay start on. */
  live: number[];
}

interface ReplayOutcome {
  rep: Replayer;
  /** A torn tail to cut off the last segment. */
  cutAt: { seq: number; offset: number } | null;
  /** A segment whose seal an interrupted rollover never wrote: cut there and sealed. */
  sealAt: { seq: number; offset: number } | null;
  /** Size of the last segment once its torn tail is cut. */
  lastSize: number;
}

class Recovery {
  private readonly fs: FsLayer;
  private readonly dir: string;
  private readonly logger: StorageLogger;

  constructor(private readonly options: RecoveryOptions) {
    this.fs = options.fs;
    this.dir = options.dir;
    this.logger = options.logger;
  }

  private p(name: string): string {
    return path.join(this.dir, name);
  }

  async run(initial: SnapshotMeta): Promise<RecoveredState> {
    const { segs, snaps } = await this.findFiles(initial);
    const snapName = snaps[snaps.length - 1];
    const snap = await SnapshotFile.open(this.fs, this.p(snapName), this.options.verifySnapshot);
    try {
      return await this.recoverFrom(snap, segs, snaps.filter((name) => name !== snapName));
    } catch (err) {
      snap.retire();
      throw err;
    }
  }

  /** The segments and snapshot files, after finishing (or making) an initialization. */
  private async findFiles(initial: SnapshotMeta): Promise<{ segs: number[]; snaps: string[] }> {
    let { segs, snaps } = await this.listDir();
    if (segs.length === 0 && snaps.length === 0) {
      await this.initialize(initial, 1);
      ({ segs, snaps } = await this.listDir());
    } else if (snaps.length === 0) {
      // Initialization writes segment 1 first, then the snapshot: finish it if it stopped in between.
      const only = segs.length === 1 && segs[0] === 1 ? await readSegmentHeader(this.fs, this.dir, 1) : null;
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
    return { segs, snaps };
  }

  /** Segment numbers and snapshot file names, both oldest first; deletes `*.tmp` files. */
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

  /** Creates segment 1 (when `firstSeq` is 1) and the initial snapshot file. */
  private async initialize(initial: SnapshotMeta, firstSeq: number): Promise<void> {
    if (initial.size !== 0) throw new StorageError('invalid', `the initial snapshot must be empty (size 0), got size ${initial.size}`);
    if (firstSeq === 1) {
      const created = await createSegmentFile(
        this.fs,
        this.dir,
        {
          seq: 1,
          baseIndex: initial.index,
          baseTerm: initial.term,
          lastIndex: initial.index,
          lastTerm: initial.term,
          hardState: { term: 0, vote: null, commit: initial.index },
        },
        this.options.dsync,
      );
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

  /** Replays the WAL on top of `snap`, repairs what a crash left half done, deletes `oldSnaps`. */
  private async recoverFrom(snap: SnapshotFile, segs: number[], oldSnaps: string[]): Promise<RecoveredState> {
    const meta = snap.meta;
    const { headers, headerOnly, startAt, live } = await this.segmentFiles(segs, meta);
    const { rep, cutAt, sealAt, lastSize } = await this.replay(live, headers, headerOnly, meta);
    const lastSeq = live[live.length - 1];
    const fin = rep.finish(meta, this.p(segmentName(lastSeq)));

    const index = new EntryIndex(meta.index + 1);
    for (let i = 0; i < fin.locs.length; i++) index.push(fin.locs[i].seq, fin.locs[i].offset, fin.locs[i].length, fin.entries[i].term);
    const segments = live.map((seq) => new Segment(this.fs, seq, this.p(segmentName(seq)), headers.get(seq)!.lastIndex));

    // Repairs, each durable before we go on.
    if (sealAt !== null) await this.seal(sealAt.seq, sealAt.offset);
    const lastSeg = segments[segments.length - 1];
    const appender = await openSegmentForAppend(this.fs, lastSeg, lastSize, headerOnly.get(lastSeg.seq)!.headerSize, this.options.dsync);
    try {
      if (cutAt !== null) {
        await this.fs.ftruncate(appender.fd, cutAt.offset);
        await this.fs.fsync(appender.fd);
      }
      if (fin.needsMarker !== null) {
        this.logger.warn(`${lastSeg.file}: recording snapshot ${meta.index}/${meta.term} (the node stopped right after making it durable)`);
        await appender.append(encodeSnapshotMarker(meta.index, meta.term, fin.needsMarker));
      }

      // Leftovers of interrupted clean-ups: older snapshots, segments before the replay start.
      for (const name of oldSnaps) await this.fs.unlink(this.p(name));
      for (const seq of segs.slice(0, startAt)) await this.fs.unlink(this.p(segmentName(seq)));
      if (oldSnaps.length > 0 || startAt > 0) await fsyncDir(this.fs, this.dir);
    } catch (err) {
      await this.fs.close(appender.fd).catch(() => undefined);
      throw err;
    }

    return {
      snapshot: snap,
      hardState: rep.hardState,
      last: fin.last,
      lastTerm: fin.lastTerm,
      index,
      segments,
      appender,
      entries: fin.entries,
    };
  }

  /** Reads every segment's header and picks the replay start: the newest segment whose header lies within the snapshot. */
  private async segmentFiles(segs: number[], meta: SnapshotMeta): Promise<SegmentFiles> {
    const headers = new Map<number, SegmentHeader>();
    const headerOnly = new Map<number, { headerSize: number; only: boolean }>();
    for (const seq of segs) {
      const h = await readSegmentHeader(this.fs, this.dir, seq);
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
    return { headers, headerOnly, startAt, live };
  }

  /** Reads the live segments record by record, finding the torn tail (if any) and an unsealed segment to repair. */
  private async replay(
    live: number[],
    headers: Map<number, SegmentHeader>,
    headerOnly: Map<number, { headerSize: number; only: boolean }>,
    meta: SnapshotMeta,
  ): Promise<ReplayOutcome> {
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
          if (torn === null) throw corrupt(file, at, describeDecodeFailure(res));
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
    return { rep, cutAt, sealAt, lastSize };
  }

  /** Finishes an interrupted rollover: cuts segment `seq` at `offset` and writes the seal naming its successor. */
  private async seal(seq: number, offset: number): Promise<void> {
    const file = this.p(segmentName(seq));
    const fd = await this.fs.open(file, O.O_RDWR);
    try {
      await this.fs.ftruncate(fd, offset);
      await writeAll(this.fs, fd, encodeSeal(seq + 1), offset);
      await this.fs.fsync(fd);
    } finally {
      await this.fs.close(fd);
    }
    this.logger.warn(`${file}: sealed (a segment rollover was interrupted)`);
  }
}

/** The replay decodes payloads as views into the segment's buffer; what recovery returns owns its bytes. */
function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: new Uint8Array(e.data) };
}
