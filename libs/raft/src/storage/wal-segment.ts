/*
 * WAL segment files `wal-<seq:16 hex>.log`: creating one (header first, under a temporary name),
 * reading its header, reading records from it, appending to the last one, deleting covered ones.
 * What the records mean is in record.ts; when segments are started and deleted, in file-storage.ts.
 */
import * as path from 'path';
import { FsLayer, fsyncDir, O, readAt, writeAll } from './fs-layer';
import { decodeRecord, encodeHeader, FRAME_BYTES, SegmentHeader, segmentName } from './record';
import { corrupt } from './wal-damage';

/**
 * A segment of the live log. Reads open it on first use and share one fd, counted, so that a segment
 * deleted while a read is in flight is closed only when that read finishes.
 */
export class Segment {
  /** Open for reading (for the last segment: the appender's fd), or null. */
  fd: number | null = null;
  private opening: Promise<number> | null = null;
  private refs = 0;
  private deleted = false;

  constructor(
    private readonly fs: FsLayer,
    readonly seq: number,
    readonly file: string,
    /** Last index of the log when this segment began (from its header). */
    readonly headerLastIndex: number,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    this.refs++;
    try {
      let fd = this.fd;
      if (fd === null) {
        this.opening ??= this.fs.open(this.file, O.O_RDONLY);
        fd = await this.opening;
        this.fd = fd;
        this.opening = null;
      }
      return await readAt(this.fs, fd, offset, length);
    } finally {
      this.refs--;
      if (this.deleted && this.refs === 0 && this.fd !== null) {
        const fd = this.fd;
        this.fd = null;
        void this.fs.close(fd).catch(() => undefined);
      }
    }
  }

  /** Deletes the file (the caller syncs the directory); its fd is closed now, or after the reads in flight. */
  async delete(): Promise<void> {
    this.deleted = true;
    if (this.refs === 0 && this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await this.fs.close(fd);
    }
    await this.fs.unlink(this.file);
  }

  /** Closes the fd unless a read is using it (on closing the storage). */
  async close(): Promise<void> {
    if (this.fd !== null && this.refs === 0) {
      const fd = this.fd;
      this.fd = null;
      await this.fs.close(fd).catch(() => undefined);
    }
  }
}

/**
 * The last segment, open for appending (with O_DSYNC in 'dsync' mode); its fd also serves the
 * segment's reads.
 */
export class SegmentAppender {
  constructor(
    private readonly fs: FsLayer,
    readonly segment: Segment,
    readonly fd: number,
    /** Bytes in the file: where the next append goes. */
    public size: number,
    /** Bytes of its header record: a segment this size holds nothing else. */
    readonly headerSize: number,
    private readonly dsync: boolean,
  ) {
    segment.fd = fd;
  }

  get seq(): number {
    return this.segment.seq;
  }

  get file(): string {
    return this.segment.file;
  }

  /** Appends `buf` at the end of the segment and returns once it is durable. */
  async append(buf: Buffer): Promise<void> {
    await writeAll(this.fs, this.fd, buf, this.size);
    this.size += buf.length;
    if (!this.dsync) await this.fs.fdatasync(this.fd);
  }
}

/**
 * Writes a segment with just its header under a temporary name, syncs, renames, syncs the directory.
 * Returns the fd, open for appending.
 */
export async function createSegmentFile(fs: FsLayer, dir: string, header: SegmentHeader, dsync: boolean): Promise<{ fd: number; size: number }> {
  const file = path.join(dir, segmentName(header.seq));
  const tmp = `${file}.tmp`;
  const buf = encodeHeader(header);
  const fd = await fs.open(tmp, O.O_RDWR | O.O_CREAT | O.O_TRUNC | (dsync ? O.O_DSYNC : 0));
  try {
    await writeAll(fs, fd, buf, 0);
    await fs.fsync(fd);
    await fs.rename(tmp, file);
    await fsyncDir(fs, dir);
  } catch (err) {
    await fs.close(fd).catch(() => undefined);
    throw err;
  }
  return { fd, size: buf.length };
}

/** Opens the segment for appending to what it holds (`size` bytes, `headerSize` of them its header). */
export async function openSegmentForAppend(
  fs: FsLayer,
  segment: Segment,
  size: number,
  headerSize: number,
  dsync: boolean,
): Promise<SegmentAppender> {
  const fd = await fs.open(segment.file, O.O_RDWR | (dsync ? O.O_DSYNC : 0));
  return new SegmentAppender(fs, segment, fd, size, headerSize, dsync);
}

/** Reads and checks the header of segment `seq` without reading the whole file. */
export async function readSegmentHeader(
  fs: FsLayer,
  dir: string,
  seq: number,
): Promise<{ header: SegmentHeader; headerSize: number; fileSize: number }> {
  const file = path.join(dir, segmentName(seq));
  const fd = await fs.open(file, O.O_RDONLY);
  try {
    const fileSize = await fs.fstatSize(fd);
    let buf = await readAt(fs, fd, 0, 4096);
    if (buf.length >= 4 && buf.readUInt32LE(0) + FRAME_BYTES > buf.length && buf.length === 4096) {
      buf = await readAt(fs, fd, 0, Math.min(buf.readUInt32LE(0) + FRAME_BYTES, 1 << 20));
    }
    const res = decodeRecord(buf, 0);
    if (!res.ok || res.record.type !== 'header') throw corrupt(file, 0, 'no valid segment header');
    if (res.record.header.seq !== seq) throw corrupt(file, 0, `header says segment ${res.record.header.seq}`);
    return { header: res.record.header, headerSize: res.end, fileSize };
  } finally {
    await fs.close(fd);
  }
}
