import * as path from 'path';
import type { SnapshotMeta } from '../core/types';
import { crc32 } from './crc32';
import { FsLayer, O, readAt } from './fs-layer';
import { StorageError } from './types';

/*
 * Snapshot file `snap-<index:16 hex>-<term:16 hex>.snap`:
 *
 *   [0, size)            the application's snapshot bytes, written chunk by chunk at their offsets
 *   [size, size+metaLen) the SnapshotMeta as JSON (utf-8)
 *   then 20 bytes:       metaLen u32, metaCrc u32 (CRC-32 of the JSON), dataCrc u32 (CRC-32 of the
 *                        snapshot bytes), version u32, magic u32 'RSNP' (0x504e5352), little-endian
 *
 * It is written as `snap-...-<n>.tmp`, fsynced, renamed, and the directory fsynced; only then does it
 * exist under its final name, so a final name always holds a complete snapshot.
 */

export const SNAP_TRAILER_BYTES = 20;
const MAGIC = 0x504e5352;
const VERSION = 1;
export const READ_CHUNK = 1 << 20;

export function snapshotName(index: number, term: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | null {
  const m = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/.exec(name);
  return m === null ? null : { index: parseInt(m[1], 16), term: parseInt(m[2], 16) };
}

export function encodeTrailer(meta: SnapshotMeta, dataCrc: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const buf = Buffer.alloc(json.length + SNAP_TRAILER_BYTES);
  json.copy(buf, 0);
  const t = json.length;
  buf.writeUInt32LE(json.length, t);
  buf.writeUInt32LE(crc32(json), t + 4);
  buf.writeUInt32LE(dataCrc >>> 0, t + 8);
  buf.writeUInt32LE(VERSION, t + 12);
  buf.writeUInt32LE(MAGIC, t + 16);
  return buf;
}

/** CRC-32 of bytes [0, size) of an open file, read in chunks. */
export async function crcOfFile(fs: FsLayer, fd: number, size: number): Promise<number> {
  let crc = 0;
  for (let at = 0; at < size; at += READ_CHUNK) {
    const n = Math.min(READ_CHUNK, size - at);
    const chunk = await readAt(fs, fd, at, n);
    if (chunk.length !== n) throw new Error(`short read at ${at}`);
    crc = crc32(chunk, crc);
  }
  return crc;
}

/** An open, verified snapshot file; reads are reference-counted so that it is closed only when unused. */
export class SnapshotFile {
  private refs = 0;
  private retired = false;

  constructor(
    private readonly fs: FsLayer,
    readonly meta: SnapshotMeta,
    readonly file: string,
    private readonly fd: number,
  ) {}

  /** Opens and verifies `file` (trailer, metadata checksum, name, size, and the data checksum when `verifyData`). */
  static async open(fs: FsLayer, file: string, verifyData: boolean): Promise<SnapshotFile> {
    const name = path.basename(file);
    const fd = await fs.open(file, O.O_RDONLY);
    try {
      const bad = (what: string, offset?: number): StorageError =>
        new StorageError('corrupt', `snapshot file ${file} is damaged: ${what}`, file, offset);
      const fileSize = await fs.fstatSize(fd);
      if (fileSize < SNAP_TRAILER_BYTES) throw bad(`only ${fileSize} bytes`, 0);
      const t = await readAt(fs, fd, fileSize - SNAP_TRAILER_BYTES, SNAP_TRAILER_BYTES);
      if (t.readUInt32LE(16) !== MAGIC) throw bad('bad trailer magic', fileSize - 4);
      if (t.readUInt32LE(12) !== VERSION) throw bad(`unknown version ${t.readUInt32LE(12)}`, fileSize - 8);
      const metaLen = t.readUInt32LE(0);
      const metaAt = fileSize - SNAP_TRAILER_BYTES - metaLen;
      if (metaAt < 0) throw bad(`metadata length ${metaLen} exceeds the file`, fileSize - SNAP_TRAILER_BYTES);
      const json = await readAt(fs, fd, metaAt, metaLen);
      if (crc32(json) !== t.readUInt32LE(4)) throw bad('metadata checksum mismatch', metaAt);
      let meta: SnapshotMeta;
      try {
        meta = JSON.parse(json.toString('utf8')) as SnapshotMeta;
      } catch {
        throw bad('metadata is not JSON', metaAt);
      }
      if (meta.size !== metaAt) throw bad(`metadata says ${meta.size} data bytes but the file holds ${metaAt}`, metaAt);
      const named = parseSnapshotName(name);
      if (named === null || named.index !== meta.index || named.term !== meta.term) {
        throw bad(`name does not match its metadata (index ${meta.index}, term ${meta.term})`, metaAt);
      }
      if (verifyData) {
        const crc = await crcOfFile(fs, fd, meta.size);
        if (crc !== t.readUInt32LE(8)) throw bad('data checksum mismatch', 0);
      }
      return new SnapshotFile(fs, meta, file, fd);
    } catch (err) {
      await fs.close(fd).catch(() => undefined);
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const size = this.meta.size;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset > size) {
      throw new StorageError('invalid', `readSnapshot(${offset}, ${length}) outside snapshot of ${size} bytes`);
    }
    const n = Math.min(length, size - offset);
    if (n === 0) return new Uint8Array(0);
    this.refs++;
    try {
      const buf = await readAt(this.fs, this.fd, offset, n);
      if (buf.length !== n) throw new StorageError('corrupt', `snapshot file ${this.file} is shorter than expected`, this.file, offset);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    } finally {
      this.release();
    }
  }

  async *chunks(chunkSize: number): AsyncGenerator<Uint8Array> {
    this.refs++;
    try {
      for (let at = 0; at < this.meta.size; at += chunkSize) {
        const n = Math.min(chunkSize, this.meta.size - at);
        const buf = await readAt(this.fs, this.fd, at, n);
        if (buf.length !== n) throw new StorageError('corrupt', `snapshot file ${this.file} is shorter than expected`, this.file, at);
        yield new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
      }
    } finally {
      this.release();
    }
  }

  /** No longer current: closed once the last read finishes. */
  retire(): void {
    this.retired = true;
    if (this.refs === 0) void this.fs.close(this.fd).catch(() => undefined);
  }

  private release(): void {
    this.refs--;
    if (this.retired && this.refs === 0) void this.fs.close(this.fd).catch(() => undefined);
  }
}
