import type { Entry, HardState, SnapshotMeta } from '../core/types';
import { SegmentHeader } from './record';
import { corrupt } from './wal-damage';

/** Where an entry's record lies: segment number, byte offset and length. */
export interface EntryLocation {
  seq: number;
  offset: number;
  length: number;
}

/**
 * Replays WAL records into the log they describe. It starts from a segment header (the log's shape
 * when that segment began) and keeps entries only from `keepFrom` (the newest snapshot's index) on:
 * older ones are covered by the snapshot, only how far the log reaches matters for them.
 */
export class Replayer {
  baseIndex: number;
  baseTerm: number;
  last: number;
  lastTerm: number;
  hardState: HardState;
  /** Entries (lo, last] are held in `entries`; the term at `lo` is `loTerm` (-1: unknown). */
  private lo: number;
  private loTerm: number;
  private entries: Entry[] = [];
  private locs: EntryLocation[] = [];

  constructor(
    private readonly keepFrom: number,
    h: SegmentHeader,
  ) {
    this.baseIndex = h.baseIndex;
    this.baseTerm = h.baseTerm;
    this.last = h.lastIndex;
    this.lastTerm = h.lastTerm;
    this.lo = h.lastIndex;
    this.loTerm = h.lastTerm;
    this.hardState = h.hardState;
  }

  /** The next segment's header must describe exactly the log replayed so far. */
  checkHeader(h: SegmentHeader, file: string): void {
    const mine = `base ${this.baseIndex}/${this.baseTerm}, last ${this.last}/${this.lastTerm}, hard state ${JSON.stringify(this.hardState)}`;
    const theirs = `base ${h.baseIndex}/${h.baseTerm}, last ${h.lastIndex}/${h.lastTerm}, hard state ${JSON.stringify(h.hardState)}`;
    const hs = this.hardState;
    if (
      h.baseIndex !== this.baseIndex ||
      h.baseTerm !== this.baseTerm ||
      h.lastIndex !== this.last ||
      h.lastTerm !== this.lastTerm ||
      h.hardState.term !== hs.term ||
      h.hardState.vote !== hs.vote ||
      h.hardState.commit !== hs.commit
    ) {
      throw corrupt(file, 0, `segment header (${theirs}) does not continue the previous segment (${mine})`);
    }
  }

  entry(e: Entry, loc: EntryLocation, file: string, copy: (e: Entry) => Entry): void {
    if (e.index <= this.baseIndex) throw corrupt(file, loc.offset, `entry ${e.index} at or below the snapshot at ${this.baseIndex}`);
    if (e.index > this.last + 1) throw corrupt(file, loc.offset, `gap in the log: entry ${e.index} follows entry ${this.last}`);
    if (e.index <= this.last) {
      // A rewrite from e.index on: the entries it replaces are dropped (the truncation of a conflicting tail).
      if (e.index - 1 >= this.lo) {
        this.entries.length = e.index - 1 - this.lo;
        this.locs.length = this.entries.length;
      } else {
        this.lo = e.index - 1;
        this.loTerm = -1;
        this.entries = [];
        this.locs = [];
      }
    }
    this.last = e.index;
    this.lastTerm = e.term;
    if (e.index >= this.keepFrom) {
      this.entries.push(copy(e));
      this.locs.push(loc);
    } else {
      this.lo = e.index;
      this.loTerm = e.term;
      this.entries = [];
      this.locs = [];
    }
  }

  snapshot(index: number, term: number, keptLast: number, file: string, offset: number): void {
    if (index < this.baseIndex) throw corrupt(file, offset, `snapshot marker ${index} goes back from snapshot ${this.baseIndex}`);
    if (keptLast !== index && keptLast !== this.last) {
      throw corrupt(file, offset, `snapshot marker keeps entries up to ${keptLast} but the log ends at ${this.last}`);
    }
    this.baseIndex = index;
    this.baseTerm = term;
    if (keptLast === index) {
      this.last = this.lo = index;
      this.lastTerm = this.loTerm = term;
      this.entries = [];
      this.locs = [];
    }
  }

  termAt(index: number): number {
    if (index === this.last) return this.lastTerm;
    if (index === this.lo) return this.loTerm;
    if (index > this.lo && index < this.last) return this.entries[index - this.lo - 1].term;
    return -1;
  }

  /**
   * The log after the snapshot `snap`. When the WAL's last marker is older than `snap` (the node stopped
   * between making the snapshot file durable and writing the marker), the marker's rule is applied here:
   * returns `needsMarker` with the outcome the caller must write.
   */
  finish(snap: SnapshotMeta, file: string): { entries: Entry[]; locs: EntryLocation[]; last: number; lastTerm: number; needsMarker: number | null } {
    let needsMarker: number | null = null;
    if (this.baseIndex > snap.index) {
      throw corrupt(file, 0, `the WAL records a snapshot at index ${this.baseIndex} but the newest snapshot file is at ${snap.index}`);
    }
    if (this.baseIndex === snap.index) {
      if (this.baseTerm !== snap.term) {
        throw corrupt(file, 0, `the WAL records the snapshot at ${snap.index} with term ${this.baseTerm}, the snapshot file has term ${snap.term}`);
      }
    } else {
      const keep = this.last >= snap.index && this.termAt(snap.index) === snap.term;
      this.snapshot(snap.index, snap.term, keep ? this.last : snap.index, file, 0);
      needsMarker = this.last;
    }
    const from = Math.max(0, snap.index - this.lo);
    return {
      entries: this.entries.slice(from),
      locs: this.locs.slice(from),
      last: this.last,
      lastTerm: this.lastTerm,
      needsMarker,
    };
  }
}
