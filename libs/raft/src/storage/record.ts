import type { Entry, HardState } from '../core/types';
import { crc32 } from './crc32';

/*
 * WAL record format (all integers little-endian; "u64" is an integer up to 2^53 stored as two u32, low first).
 *
 *   offset  size  field
 *   0       4     bodyLen   length of the body (from `type` to the end of the record)
 *   4       4     bodyCrc   CRC-32 of the body
 *   8       4     headCrc   CRC-32 of bytes 0..7 (bodyLen and bodyCrc): a damaged length is told apart
 *                           from a record cut short by a crash
 *   12      1     type      1 entry, 2 hard state, 3 segment header, 4 snapshot marker, 5 seal
 *   13      ...   type-specific fields:
 *     entry:          entryType u8, index u64, term u64, payload (bodyLen - 18 bytes)
 *     hard state:     term u64, commit u64, voteLen u16 (0xffff: no vote), vote (utf-8)
 *     segment header: version u8, seq u64, baseIndex u64, baseTerm u64, lastIndex u64, lastTerm u64,
 *                     then a hard state as above: the log's shape and hard state when the segment began
 *     snapshot:       index u64, term u64, keptLast u64: a snapshot became current and the log now
 *                     holds (index, keptLast] (keptLast = index when every stored entry was dropped)
 *     seal:           nextSeq u64: this segment is finished and segment nextSeq follows it
 *
 * An entry costs 30 bytes of framing and fields plus its payload.
 */

export const FRAME_BYTES = 12;
export const ENTRY_OVERHEAD = FRAME_BYTES + 18;
export const FORMAT_VERSION = 1;
/** Largest body accepted when reading; anything larger is damage, not data. */
export const MAX_BODY_BYTES = 1 << 30;

export const REC_ENTRY = 1;
export const REC_HARD_STATE = 2;
export const REC_HEADER = 3;
export const REC_SNAPSHOT = 4;
export const REC_SEAL = 5;

const TWO32 = 4294967296;
const NO_VOTE = 0xffff;

export interface SegmentHeader {
  seq: number;
  baseIndex: number;
  baseTerm: number;
  lastIndex: number;
  lastTerm: number;
  hardState: HardState;
}

export type WalRecord =
  | { type: 'entry'; entry: Entry }
  | { type: 'hardState'; hardState: HardState }
  | { type: 'header'; header: SegmentHeader }
  | { type: 'snapshot'; index: number; term: number; keptLast: number }
  | { type: 'seal'; nextSeq: number };

export function putU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32LE(v % TWO32, at);
  buf.writeUInt32LE(Math.floor(v / TWO32), at + 4);
}

export function getU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO32;
}

/** Fills in the frame of a record whose body (`bodyLen` bytes) is already at `at + FRAME_BYTES`. */
export function sealFrame(buf: Buffer, at: number, bodyLen: number): void {
  buf.writeUInt32LE(bodyLen, at);
  buf.writeUInt32LE(crc32(buf.subarray(at + FRAME_BYTES, at + FRAME_BYTES + bodyLen)), at + 4);
  buf.writeUInt32LE(crc32(buf.subarray(at, at + 8)), at + 8);
}

export function entryRecordBytes(e: Entry): number {
  return ENTRY_OVERHEAD + e.data.length;
}

/** Encodes `e` at `at`; returns the offset after it. */
export function putEntry(buf: Buffer, at: number, e: Entry): number {
  const b = at + FRAME_BYTES;
  buf[b] = REC_ENTRY;
  buf[b + 1] = e.type;
  putU64(buf, b + 2, e.index);
  putU64(buf, b + 10, e.term);
  buf.set(e.data, b + 18);
  const bodyLen = 18 + e.data.length;
  sealFrame(buf, at, bodyLen);
  return at + FRAME_BYTES + bodyLen;
}

function hardStateBytes(hs: HardState): number {
  return 18 + (hs.vote === null ? 0 : Buffer.byteLength(hs.vote, 'utf8'));
}

function putHardStateFields(buf: Buffer, at: number, hs: HardState): number {
  putU64(buf, at, hs.term);
  putU64(buf, at + 8, hs.commit);
  if (hs.vote === null) {
    buf.writeUInt16LE(NO_VOTE, at + 16);
    return at + 18;
  }
  const n = buf.write(hs.vote, at + 18, 'utf8');
  buf.writeUInt16LE(n, at + 16);
  return at + 18 + n;
}

export function hardStateRecordBytes(hs: HardState): number {
  return FRAME_BYTES + 1 + hardStateBytes(hs);
}

export function putHardState(buf: Buffer, at: number, hs: HardState): number {
  const b = at + FRAME_BYTES;
  buf[b] = REC_HARD_STATE;
  const end = putHardStateFields(buf, b + 1, hs);
  sealFrame(buf, at, end - b);
  return end;
}

export function encodeHeader(h: SegmentHeader): Buffer {
  const buf = Buffer.alloc(FRAME_BYTES + 1 + 1 + 40 + hardStateBytes(h.hardState));
  const b = FRAME_BYTES;
  buf[b] = REC_HEADER;
  buf[b + 1] = FORMAT_VERSION;
  putU64(buf, b + 2, h.seq);
  putU64(buf, b + 10, h.baseIndex);
  putU64(buf, b + 18, h.baseTerm);
  putU64(buf, b + 26, h.lastIndex);
  putU64(buf, b + 34, h.lastTerm);
  const end = putHardStateFields(buf, b + 42, h.hardState);
  sealFrame(buf, 0, end - b);
  return buf;
}

export function encodeSnapshotMarker(index: number, term: number, keptLast: number): Buffer {
  const buf = Buffer.alloc(FRAME_BYTES + 25);
  buf[FRAME_BYTES] = REC_SNAPSHOT;
  putU64(buf, FRAME_BYTES + 1, index);
  putU64(buf, FRAME_BYTES + 9, term);
  putU64(buf, FRAME_BYTES + 17, keptLast);
  sealFrame(buf, 0, 25);
  return buf;
}

export function encodeSeal(nextSeq: number): Buffer {
  const buf = Buffer.alloc(FRAME_BYTES + 9);
  buf[FRAME_BYTES] = REC_SEAL;
  putU64(buf, FRAME_BYTES + 1, nextSeq);
  sealFrame(buf, 0, 9);
  return buf;
}

export type DecodeResult =
  | { ok: true; record: WalRecord; end: number }
  /** Fewer bytes left than the frame, or a valid frame whose body runs past the end of the data. */
  | { ok: false; problem: 'short'; end: number }
  | { ok: false; problem: 'bad-frame' | 'bad-body' | 'bad-content'; detail: string; end: number };

function copyBytes(buf: Buffer, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(buf.subarray(start, end));
  return out;
}

function readHardStateFields(buf: Buffer, at: number, end: number): { hs: HardState; next: number } | null {
  if (at + 18 > end) return null;
  const term = getU64(buf, at);
  const commit = getU64(buf, at + 8);
  const voteLen = buf.readUInt16LE(at + 16);
  if (voteLen === NO_VOTE) return { hs: { term, vote: null, commit }, next: at + 18 };
  if (at + 18 + voteLen > end) return null;
  return { hs: { term, vote: buf.toString('utf8', at + 18, at + 18 + voteLen), commit }, next: at + 18 + voteLen };
}

/**
 * Decodes the record at `at` of `buf` (which ends at `limit`). Entry payloads are copied out
 * unless `copyPayload` is false, in which case they are views into `buf`.
 */
export function decodeRecord(buf: Buffer, at: number, limit = buf.length, copyPayload = true): DecodeResult {
  if (limit - at < FRAME_BYTES) return { ok: false, problem: 'short', end: limit };
  if (buf.readUInt32LE(at + 8) !== crc32(buf.subarray(at, at + 8))) {
    return { ok: false, problem: 'bad-frame', detail: 'record header checksum mismatch', end: at + FRAME_BYTES };
  }
  const bodyLen = buf.readUInt32LE(at);
  const b = at + FRAME_BYTES;
  const end = b + bodyLen;
  if (bodyLen < 1 || bodyLen > MAX_BODY_BYTES) {
    return { ok: false, problem: 'bad-content', detail: `impossible record length ${bodyLen}`, end: b };
  }
  if (end > limit) return { ok: false, problem: 'short', end: limit };
  if (buf.readUInt32LE(at + 4) !== crc32(buf.subarray(b, end))) {
    return { ok: false, problem: 'bad-body', detail: 'record checksum mismatch', end };
  }
  const bad = (detail: string): DecodeResult => ({ ok: false, problem: 'bad-content', detail, end });
  switch (buf[b]) {
    case REC_ENTRY: {
      if (bodyLen < 18) return bad('entry record too short');
      const entry: Entry = {
        type: buf[b + 1],
        index: getU64(buf, b + 2),
        term: getU64(buf, b + 10),
        data: copyPayload ? copyBytes(buf, b + 18, end) : buf.subarray(b + 18, end),
      };
      return { ok: true, record: { type: 'entry', entry }, end };
    }
    case REC_HARD_STATE: {
      const r = readHardStateFields(buf, b + 1, end);
      if (r === null || r.next !== end) return bad('malformed hard state record');
      return { ok: true, record: { type: 'hardState', hardState: r.hs }, end };
    }
    case REC_HEADER: {
      if (bodyLen < 42 + 18) return bad('segment header too short');
      if (buf[b + 1] !== FORMAT_VERSION) return bad(`unknown segment format version ${buf[b + 1]}`);
      const r = readHardStateFields(buf, b + 42, end);
      if (r === null || r.next !== end) return bad('malformed segment header');
      const header: SegmentHeader = {
        seq: getU64(buf, b + 2),
        baseIndex: getU64(buf, b + 10),
        baseTerm: getU64(buf, b + 18),
        lastIndex: getU64(buf, b + 26),
        lastTerm: getU64(buf, b + 34),
        hardState: r.hs,
      };
      return { ok: true, record: { type: 'header', header }, end };
    }
    case REC_SNAPSHOT:
      if (bodyLen !== 25) return bad('malformed snapshot marker');
      return {
        ok: true,
        record: { type: 'snapshot', index: getU64(buf, b + 1), term: getU64(buf, b + 9), keptLast: getU64(buf, b + 17) },
        end,
      };
    case REC_SEAL:
      if (bodyLen !== 9) return bad('malformed seal record');
      return { ok: true, record: { type: 'seal', nextSeq: getU64(buf, b + 1) }, end };
    default:
      return bad(`unknown record type ${buf[b]}`);
  }
}

export const SEGMENT_PREFIX = 'wal-';
export const SEGMENT_SUFFIX = '.log';

export function segmentName(seq: number): string {
  return `${SEGMENT_PREFIX}${seq.toString(16).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

export function parseSegmentName(name: string): number | null {
  const m = /^wal-([0-9a-f]{16})\.log$/.exec(name);
  return m === null ? null : parseInt(m[1], 16);
}
