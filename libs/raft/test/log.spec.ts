import { Entry, RaftLog, SnapshotMeta } from '../src/core';
import { confOf, entriesWithTerms, entry, termsOf } from './harness';

const EMPTY: SnapshotMeta = { index: 0, term: 0, conf: confOf(['n1']), size: 0 };

function snap(index: number, term: number): SnapshotMeta {
  return { index, term, conf: confOf(['n1']), size: 10 };
}

/** A log holding entries 1..terms.length (already durable), committed up to `commit`. */
function logOf(terms: number[], commit = 0): RaftLog {
  return new RaftLog(EMPTY, entriesWithTerms(terms), commit);
}

function sized(index: number, term: number, size: number): Entry {
  return entry(index, term, 'x'.repeat(size));
}

describe('RaftLog', () => {
  describe('construction', () => {
    it('starts after the snapshot, with everything given durable and commit clamped to the log', () => {
      const log = new RaftLog(snap(5, 2), entriesWithTerms([2, 3], 6), 100);
      expect(log.firstIndex()).toBe(6);
      expect(log.lastIndex()).toBe(7);
      expect(log.lastTerm()).toBe(3);
      expect(log.stable).toBe(7);
      expect(log.commit).toBe(7);
      expect(log.applying).toBe(5);
      expect(log.takeEntriesToWrite()).toEqual([]);
    });

    it('never puts commit below the snapshot', () => {
      expect(new RaftLog(snap(5, 2), [], 0).commit).toBe(5);
    });

    it('rejects entries that do not follow the snapshot or have gaps', () => {
      expect(() => new RaftLog(snap(5, 2), entriesWithTerms([2], 7), 0)).toThrow(/does not follow/);
      expect(() => new RaftLog(EMPTY, [entry(1, 1), entry(3, 1)], 0)).toThrow(/gap/);
    });
  });

  describe('append', () => {
    it('appends at lastIndex + 1 and hands the new entries out for writing once', () => {
      const log = logOf([1, 1]);
      log.append(entry(3, 2));
      expect(log.lastIndex()).toBe(3);
      expect(log.lastTerm()).toBe(2);
      expect(log.takeEntriesToWrite().map((e) => e.index)).toEqual([3]);
      expect(log.takeEntriesToWrite()).toEqual([]); // in flight: not handed out again
      expect(log.stable).toBe(2); // not durable before the driver says so
      log.stableTo(3, 2);
      expect(log.stable).toBe(3);
    });

    it('refuses an entry that leaves a gap or overlaps', () => {
      const log = logOf([1, 1]);
      expect(() => log.append(entry(4, 1))).toThrow();
      expect(() => log.append(entry(2, 1))).toThrow();
      expect(log.lastIndex()).toBe(2);
    });
  });

  describe('term and entry', () => {
    it('knows the snapshot term, and answers -1 below the snapshot and past the end', () => {
      const log = new RaftLog(snap(3, 2), entriesWithTerms([2, 4], 4), 0);
      expect(log.term(3)).toBe(2);
      expect(log.term(4)).toBe(2);
      expect(log.term(5)).toBe(4);
      expect(log.term(2)).toBe(-1);
      expect(log.term(6)).toBe(-1);
      expect(log.entry(3)).toBeUndefined();
      expect(log.entry(5)?.term).toBe(4);
      expect(log.matchTerm(5, 4)).toBe(true);
      expect(log.matchTerm(5, 3)).toBe(false);
    });
  });

  describe('slice', () => {
    const log = new RaftLog(EMPTY, [sized(1, 1, 3), sized(2, 1, 3), sized(3, 1, 3), sized(4, 1, 3)], 0);

    it('returns [lo, hi] clipped to the last index', () => {
      expect(log.slice(2, 3).map((e) => e.index)).toEqual([2, 3]);
      expect(log.slice(3, 99).map((e) => e.index)).toEqual([3, 4]);
      expect(log.slice(5, 9)).toEqual([]);
    });

    it('stops at the byte limit', () => {
      expect(log.slice(1, 4, 6).map((e) => e.index)).toEqual([1, 2]);
      expect(log.slice(1, 4, 8).map((e) => e.index)).toEqual([1, 2]);
      expect(log.slice(1, 4, 9).map((e) => e.index)).toEqual([1, 2, 3]);
    });

    it('always returns at least one entry, even one larger than the limit', () => {
      expect(log.slice(2, 4, 1).map((e) => e.index)).toEqual([2]);
      expect(log.slice(2, 4, 0).map((e) => e.index)).toEqual([2]);
    });

    it('refuses to slice below the snapshot', () => {
      const compacted = new RaftLog(snap(2, 1), entriesWithTerms([1, 1], 3), 0);
      expect(() => compacted.slice(2, 4)).toThrow(/below snapshot/);
      expect(compacted.slice(3, 4).map((e) => e.index)).toEqual([3, 4]);
    });
  });

  describe('isUpToDate (Raft §5.4.1)', () => {
    const log = logOf([1, 2, 2]);
    it.each([
      [3, 2, true, 'same last term and index'],
      [4, 2, true, 'same last term, longer'],
      [2, 2, false, 'same last term, shorter'],
      [1, 3, true, 'higher last term, shorter'],
      [9, 1, false, 'lower last term, longer'],
    ])('candidate (lastIndex %d, lastTerm %d) -> %s (%s)', (lastIndex, lastTerm, expected) => {
      expect(log.isUpToDate(lastIndex, lastTerm)).toBe(expected);
    });
  });

  describe('findConflictByTerm', () => {
    // index:  1  2  3  4  5  6
    // term:   1  1  2  2  4  4
    const log = logOf([1, 1, 2, 2, 4, 4]);

    it.each([
      [6, 4, 6, 4],
      [6, 3, 4, 2],
      [6, 2, 4, 2],
      [6, 1, 2, 1],
      [6, 0, 0, 0],
      [3, 4, 3, 2],
      [99, 3, 4, 2], // an index past the end is clipped to the last index first
    ])('(index %d, term %d) -> (%d, %d)', (index, term, wantIndex, wantTerm) => {
      expect(log.findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
    });

    it('stops at the snapshot when every retained entry has a larger term', () => {
      const compacted = new RaftLog(snap(3, 2), entriesWithTerms([4, 4, 5], 4), 0);
      expect(compacted.findConflictByTerm(6, 1)).toEqual({ index: 3, term: 2 });
      expect(compacted.findConflictByTerm(6, 4)).toEqual({ index: 5, term: 4 });
    });
  });

  describe('appendFromLeader', () => {
    it('keeps entries it already has and reports no change', () => {
      const log = logOf([1, 1, 1]);
      expect(log.appendFromLeader(0, entriesWithTerms([1, 1]))).toBe(0);
      expect(log.lastIndex()).toBe(3); // a delayed, shorter append never truncates a matching suffix
    });

    it('appends new entries after the ones it has and returns the first new index', () => {
      const log = logOf([1, 1]);
      expect(log.appendFromLeader(1, entriesWithTerms([1, 2, 2], 2))).toBe(3);
      expect(termsOf(log)).toEqual([1, 1, 2, 2]);
    });

    it('truncates at the first conflict and replaces the rest', () => {
      const log = logOf([1, 1, 2, 2, 2]);
      expect(log.appendFromLeader(2, entriesWithTerms([2, 3], 3))).toBe(4);
      expect(termsOf(log)).toEqual([1, 1, 2, 3]);
      expect(log.takeEntriesToWrite().map((e) => [e.index, e.term])).toEqual([[4, 3]]);
      expect(log.stable).toBe(3); // the replaced entries are no longer durable
    });

    it('refuses to overwrite a committed entry', () => {
      const log = logOf([1, 1, 2], 2);
      expect(() => log.appendFromLeader(0, entriesWithTerms([1, 3]))).toThrow(/committed/);
      expect(termsOf(log)).toEqual([1, 1, 2]);
      // Overwriting past the commit index is fine.
      expect(log.appendFromLeader(2, entriesWithTerms([3], 3))).toBe(3);
      expect(termsOf(log)).toEqual([1, 1, 3]);
    });

    it('skips entries covered by the snapshot', () => {
      const log = new RaftLog(snap(3, 2), entriesWithTerms([2], 4), 3);
      // indexes 2..6: 2 and 3 are in the snapshot, 4 matches, 5 and 6 are new
      expect(log.appendFromLeader(1, entriesWithTerms([1, 2, 2, 2, 3], 2))).toBe(5);
      expect(log.lastIndex()).toBe(6);
      expect(log.term(6)).toBe(3);
    });
  });

  describe('stableTo', () => {
    it('marks entries durable up to the given one', () => {
      const log = logOf([]);
      for (const e of entriesWithTerms([1, 1, 1])) log.append(e);
      expect(log.takeEntriesToWrite().map((e) => e.index)).toEqual([1, 2, 3]);
      log.stableTo(2, 1);
      expect(log.stable).toBe(2);
    });

    it('hands out again the replacements of entries truncated while their write was in flight', () => {
      const log = logOf([]);
      for (const e of entriesWithTerms([1, 1, 1, 1])) log.append(e);
      expect(log.takeEntriesToWrite().map((e) => e.index)).toEqual([1, 2, 3, 4]);
      log.appendFromLeader(2, entriesWithTerms([2, 2], 3));
      expect(log.takeEntriesToWrite().map((e) => [e.index, e.term])).toEqual([[3, 2], [4, 2]]);
      log.stableTo(4, 1); // the first write lands: its entry 4 has been replaced since
      expect(log.stable).toBe(0);
      log.stableTo(4, 2); // the second write lands: it covers the first
      expect(log.stable).toBe(4);
    });

    it('ignores an acknowledgement for entries that were replaced in the meantime', () => {
      const log = logOf([]);
      for (const e of entriesWithTerms([1, 1, 1])) log.append(e);
      // A Ready handed out entries 1..3 of term 1; before advance(), a new leader replaced 2..3.
      log.appendFromLeader(1, entriesWithTerms([2], 2));
      expect(termsOf(log)).toEqual([1, 2]);
      log.stableTo(3, 1); // index 3 no longer exists
      expect(log.stable).toBe(0);
      log.stableTo(2, 1); // index 2 now holds a term-2 entry, which was never written
      expect(log.stable).toBe(0);
      log.stableTo(2, 2);
      expect(log.stable).toBe(2);
    });

    it('never moves backwards', () => {
      const log = logOf([1, 1, 1]);
      log.stableTo(1, 1);
      expect(log.stable).toBe(3);
    });
  });

  describe('commitTo and nextCommitted', () => {
    it('only moves forward and never beyond the last index', () => {
      const log = logOf([1, 1, 1]);
      log.commitTo(2);
      log.commitTo(1);
      expect(log.commit).toBe(2);
      expect(() => log.commitTo(4)).toThrow(/beyond/);
    });

    it('hands out committed entries once, up to the durable bound', () => {
      const log = logOf([1, 1, 1, 1], 3);
      expect(log.nextCommitted(2).map((e) => e.index)).toEqual([1, 2]);
      expect(log.nextCommitted(10).map((e) => e.index)).toEqual([1, 2, 3]);
      log.applying = 3;
      expect(log.nextCommitted(10)).toEqual([]);
      log.commitTo(4);
      expect(log.nextCommitted(10).map((e) => e.index)).toEqual([4]);
    });
  });

  describe('compact', () => {
    it('drops entries up to the snapshot and keeps the rest', () => {
      const log = logOf([1, 1, 2, 2, 3], 5);
      log.applying = 4;
      log.compact(snap(3, 2));
      expect(log.snapshot.index).toBe(3);
      expect(log.firstIndex()).toBe(4);
      expect(log.lastIndex()).toBe(5);
      expect(log.term(3)).toBe(2);
      expect(log.term(2)).toBe(-1);
      expect(log.entry(4)?.term).toBe(2);
      expect(log.commit).toBe(5);
    });

    it('ignores a snapshot at or below the current one', () => {
      const log = logOf([1, 1, 2], 3);
      log.applying = 3;
      log.compact(snap(2, 1));
      log.compact(snap(1, 1));
      expect(log.snapshot.index).toBe(2);
      expect(log.lastIndex()).toBe(3);
    });

    it('refuses to compact beyond what was handed out for apply, or with the wrong term', () => {
      const log = logOf([1, 1, 2], 3);
      log.applying = 2;
      expect(() => log.compact(snap(3, 2))).toThrow(/beyond applying/);
      expect(() => log.compact(snap(2, 2))).toThrow(/term/);
      expect(log.snapshot.index).toBe(0);
    });
  });

  describe('restore (a snapshot from the leader)', () => {
    it('keeps the suffix that follows the snapshot when the entry at its index matches', () => {
      const log = logOf([1, 1, 2, 2, 2], 1);
      log.restore(snap(3, 2));
      expect(log.snapshot.index).toBe(3);
      expect(termsOf(log)).toEqual([2, 2]);
      expect(log.lastIndex()).toBe(5);
      expect(log.commit).toBe(3);
      expect(log.applying).toBe(3);
      expect(log.stable).toBe(5);
    });

    it('drops the whole log when the entry at the snapshot index has another term', () => {
      const log = logOf([1, 1, 1, 1, 1], 1);
      log.restore(snap(3, 2));
      expect(log.lastIndex()).toBe(3);
      expect(log.lastTerm()).toBe(2);
      expect(log.entry(4)).toBeUndefined();
      expect(log.stable).toBe(3);
      expect(log.commit).toBe(3);
    });

    it('drops the whole log when the snapshot is beyond it', () => {
      const log = logOf([1, 1], 2);
      log.restore(snap(10, 3));
      expect(log.firstIndex()).toBe(11);
      expect(log.lastIndex()).toBe(10);
      expect(log.lastTerm()).toBe(3);
      expect(log.commit).toBe(10);
      expect(log.applying).toBe(10);
      expect(log.stable).toBe(10);
    });

    it('never lowers the commit index', () => {
      const log = logOf([1, 1, 2, 2, 2], 5);
      log.restore(snap(3, 2));
      expect(log.commit).toBe(5);
    });
  });
});
