import { Entry, SnapshotMeta } from './types';

/**
 * The in-memory view of one node's log: a snapshot (everything up to `snapshot.index` is compacted)
 * followed by `entries`. The whole uncompacted suffix is kept in memory; compaction bounds its size.
 */
export class RaftLog {
  private entries: Entry[];
  snapshot: SnapshotMeta;
  commit: number;
  /** Highest index handed to the driver for apply (in a Ready's committed entries); the state machine may not have applied it yet. */
  applying: number;
  /** Highest index known durable in this node's storage. */
  stable: number;
  /** Highest index handed to the driver for writing (durable or in flight); at least `stable`. */
  handedOut: number;

  constructor(snapshot: SnapshotMeta, entries: Entry[], commit: number) {
    if (entries.length > 0 && entries[0].index !== snapshot.index + 1) {
      throw new Error(`log: first entry ${entries[0].index} does not follow snapshot ${snapshot.index}`);
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== entries[i - 1].index + 1) throw new Error(`log: gap after index ${entries[i - 1].index}`);
    }
    this.snapshot = snapshot;
    this.entries = entries.slice();
    this.stable = this.lastIndex();
    this.handedOut = this.stable;
    this.commit = Math.min(Math.max(commit, snapshot.index), this.lastIndex());
    this.applying = snapshot.index;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].term : this.snapshot.term;
  }

  /** Term of the entry at `index`, or -1 when it is compacted away (below the snapshot) or beyond the end. */
  term(index: number): number {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return -1;
    return this.entries[index - this.snapshot.index - 1].term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshot.index - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Entries in [lo, hi], at most `maxBytes` of payload (always at least one entry when any is in range). */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo <= this.snapshot.index) throw new Error(`log: slice(${lo}) below snapshot ${this.snapshot.index}`);
    hi = Math.min(hi, this.lastIndex());
    if (hi < lo) return [];
    const start = lo - this.snapshot.index - 1;
    const end = hi - this.snapshot.index;
    if (maxBytes === Infinity) return this.entries.slice(start, end);
    let bytes = 0;
    let i = start;
    for (; i < end; i++) {
      bytes += this.entries[i].data.length;
      if (bytes > maxBytes && i > start) break;
    }
    return this.entries.slice(start, i);
  }

  /** Whether a candidate's log (lastTerm, lastIndex) is at least as up to date as ours (Raft §5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  append(entry: Entry): void {
    if (entry.index !== this.lastIndex() + 1) throw new Error(`log: append ${entry.index} after ${this.lastIndex()}`);
    this.entries.push(entry);
  }

  /**
   * Appends entries from a leader whose log matches ours at `prevIndex`. Entries we already hold are
   * kept; the first conflicting one and everything after it are replaced. Returns the index of the
   * first entry replaced or added (0 when nothing changed).
   */
  appendFromLeader(prevIndex: number, entries: Entry[]): number {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.index <= this.snapshot.index) continue;
      if (e.index <= this.lastIndex()) {
        if (this.term(e.index) === e.term) continue;
        if (e.index <= this.commit) {
          throw new Error(`log: conflict at committed index ${e.index} (commit ${this.commit})`);
        }
        this.truncateFrom(e.index);
      }
      if (e.index !== this.lastIndex() + 1) throw new Error(`log: gap appending ${e.index} after ${this.lastIndex()} (prev ${prevIndex})`);
      for (let j = i; j < entries.length; j++) this.entries.push(entries[j]);
      return e.index;
    }
    return 0;
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapshot.index - 1;
    if (this.stable >= index) this.stable = index - 1;
    if (this.handedOut >= index) this.handedOut = index - 1;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`: where a leader with term
   * `term` at `index` can next probe us (etcd's findConflictByTerm).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    index = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(index);
      if (t === -1) return { index: this.snapshot.index, term: this.snapshot.term };
      if (t <= term) return { index, term: t };
      index--;
    }
  }

  commitTo(index: number): void {
    if (index > this.commit) {
      if (index > this.lastIndex()) throw new Error(`log: commit ${index} beyond last index ${this.lastIndex()}`);
      this.commit = index;
    }
  }

  /** Entries not yet handed to the driver for writing; from now on they count as handed out. */
  takeEntriesToWrite(): Entry[] {
    if (this.handedOut >= this.lastIndex()) return [];
    const entries = this.entries.slice(this.handedOut - this.snapshot.index);
    this.handedOut = this.lastIndex();
    return entries;
  }

  /** Committed entries that are durable here (up to `durableUpTo`) and not yet handed out for apply. */
  nextCommitted(durableUpTo: number): Entry[] {
    const hi = Math.min(this.commit, durableUpTo);
    if (hi <= this.applying) return [];
    return this.slice(this.applying + 1, hi);
  }

  /** Marks `index` (of `term`) durable, unless the entry there was replaced since it was handed out. */
  stableTo(index: number, term: number): void {
    if (index > this.stable && this.term(index) === term) this.stable = index;
  }

  /** Drops entries up to `meta.index`, covered by a durable snapshot. */
  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.snapshot.index) return;
    if (meta.index > this.applying) throw new Error(`log: compact ${meta.index} beyond applying ${this.applying}`);
    if (this.term(meta.index) !== meta.term) throw new Error(`log: compact ${meta.index} with term ${meta.term} != ${this.term(meta.index)}`);
    this.entries = this.entries.slice(meta.index - this.snapshot.index);
    this.snapshot = meta;
    this.stable = Math.max(this.stable, meta.index);
    this.handedOut = Math.max(this.handedOut, meta.index);
  }

  /** Installs a snapshot received from the leader; keeps our suffix only when it follows the snapshot. */
  restore(meta: SnapshotMeta): void {
    if (this.term(meta.index) === meta.term) {
      this.entries = this.entries.slice(meta.index - this.snapshot.index);
    } else {
      this.entries = [];
    }
    this.snapshot = meta;
    this.stable = Math.min(Math.max(this.stable, meta.index), this.lastIndex());
    this.handedOut = Math.min(Math.max(this.handedOut, meta.index), this.lastIndex());
    this.commit = Math.max(this.commit, meta.index);
    this.applying = meta.index;
  }
}
