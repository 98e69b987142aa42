import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { StorageError } from './types';

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function validateHardState(hs: HardState): void {
  if (!isCount(hs.term) || !isCount(hs.commit)) throw new StorageError('invalid', `bad hard state ${JSON.stringify(hs)}`);
  if (hs.vote !== null && (typeof hs.vote !== 'string' || Buffer.byteLength(hs.vote, 'utf8') >= 0xffff)) {
    throw new StorageError('invalid', `bad vote in hard state ${JSON.stringify(hs)}`);
  }
}

/** `entries` must be consecutive, start above the snapshot and at most one past the stored log's end. */
export function validateEntries(entries: Entry[], snapshotIndex: number, lastIndex: number): void {
  if (entries.length === 0) return;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!isCount(e.index) || !isCount(e.term) || !Number.isInteger(e.type) || e.type < 0 || e.type > 255 || !(e.data instanceof Uint8Array)) {
      throw new StorageError('invalid', `bad entry at position ${i} (index ${String(e.index)}, term ${String(e.term)})`);
    }
    if (i > 0 && e.index !== entries[i - 1].index + 1) {
      throw new StorageError('invalid', `entries not consecutive: ${e.index} after ${entries[i - 1].index}`);
    }
  }
  const first = entries[0].index;
  if (first <= snapshotIndex) throw new StorageError('invalid', `entry ${first} is at or below the snapshot at ${snapshotIndex}`);
  if (first > lastIndex + 1) throw new StorageError('invalid', `entry ${first} leaves a gap after the stored log, which ends at ${lastIndex}`);
}

export function validateSnapshotMeta(meta: SnapshotMeta): void {
  if (!isCount(meta.index) || !isCount(meta.term) || !isCount(meta.size)) {
    throw new StorageError('invalid', `bad snapshot meta (index ${String(meta.index)}, term ${String(meta.term)}, size ${String(meta.size)})`);
  }
  const conf = meta.conf as unknown as { voters?: unknown; learners?: unknown } | null;
  if (conf === null || typeof conf !== 'object' || !Array.isArray(conf.voters) || !Array.isArray(conf.learners)) {
    throw new StorageError('invalid', `bad snapshot conf ${JSON.stringify(meta.conf)}`);
  }
}
