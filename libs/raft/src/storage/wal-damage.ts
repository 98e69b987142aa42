/*
 * Damage found in the WAL: the error that names the file and byte offset, and the test that tells a
 * record a crash interrupted (cut off on open, it was never acknowledged) from damage to data that was
 * already durable (refused: cutting it could lose acknowledged entries).
 */
import { DecodeResult, FRAME_BYTES } from './record';
import { StorageError } from './types';

export const SECTOR = 512;

export function corrupt(file: string, offset: number, what: string): StorageError {
  return new StorageError(
    'corrupt',
    `WAL damaged: ${file} at byte offset ${offset}: ${what}. Refusing to start rather than lose ` +
      `acknowledged entries; restore this node's data directory from a backup or rebuild the node from the cluster.`,
    file,
    offset,
  );
}

/** Why a record failed to decode, in words for a `corrupt` error. */
export function describeDecodeFailure(res: DecodeResult & { ok: false }): string {
  if (res.problem === 'short') return 'the file ends in the middle of a record';
  return res.detail;
}

function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Whether [from, to) contains a whole 512-byte sector (aligned to the file) of zeros. */
function hasZeroSector(buf: Buffer, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s + SECTOR <= to; s += SECTOR) if (allZero(buf, s, s + SECTOR)) return true;
  return false;
}

/**
 * A record at `at` that failed to decode, in the last segment: is it a write the crash interrupted
 * (returns why), or damage to data that was there before (returns null)? Interrupted writes look like:
 * a file that ends inside the record; zeros from the record to the end of the file (space the file
 * system allocated but never got the data for); or a whole zero sector inside the record (a page of a
 * multi-page write that never reached the disk). A checksum mismatch with none of these signs is damage.
 */
export function tornReason(buf: Buffer, at: number, res: DecodeResult & { ok: false }): string | null {
  if (res.problem === 'short') {
    return at + FRAME_BYTES > buf.length ? `${buf.length - at} bytes, less than a record header` : 'record cut short by the end of the file';
  }
  if (res.problem === 'bad-content') return null;
  if (allZero(buf, at, buf.length)) return 'zero-filled tail';
  const to = res.problem === 'bad-body' ? res.end : Math.min(buf.length, at + FRAME_BYTES + 4096);
  if (hasZeroSector(buf, at, to)) return 'record with a zero-filled sector, a write the crash left unfinished';
  return null;
}
