import { EventJournal, JournalEvent } from '../src/processors/event-journal';
import { formatPosition } from '../src/processors/event-position';

function events(index: number, count: number): JournalEvent[] {
  return Array.from({ length: count }, (_, n) => ({ index, n, name: 'e', payload: { index, n }, timestamp: 0, correlationId: null, causationId: null }));
}

function ids(journal: EventJournal, from: { index: number; n: number } | null = null): string[] {
  const out: string[] = [];
  for (let e = journal.after(from); e !== undefined; e = journal.after(e)) out.push(formatPosition(e));
  return out;
}

describe('EventJournal', () => {
  it('hands out events in log order after any position', () => {
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 100, maxBytes: 1 << 30, consumers: null });
    j.append(3, events(3, 2));
    j.append(7, events(7, 1));
    expect(ids(j)).toEqual(['3:0', '3:1', '7:0']);
    expect(ids(j, { index: 3, n: 0 })).toEqual(['3:1', '7:0']);
    expect(ids(j, { index: 5, n: 0 })).toEqual(['7:0']);
    expect(j.countAfter({ index: 3, n: 1 })).toBe(1);
    expect(j.missedAfter(null)).toBeNull();
  });

  it('drops events older than the window and tells a processor behind it what it missed', () => {
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 10, maxBytes: 1 << 30, consumers: null });
    for (let i = 1; i <= 30; i++) j.append(i, events(i, 1));
    // Kept: the events of entries 21..30 (index > 30 - 10).
    expect(ids(j)[0]).toBe('21:0');
    expect(j.size).toBe(10);
    expect(j.missedAfter({ index: 5, n: 0 })).toEqual({ index: 20, n: 0 });
    expect(j.missedAfter(null)).toEqual({ index: 20, n: 0 });
    // A processor that handled the newest dropped event missed nothing.
    expect(j.missedAfter({ index: 20, n: 0 })).toBeNull();
  });

  it('bounds the number of events kept, even when one entry raises many', () => {
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 10, maxBytes: 1 << 30, consumers: null });
    j.append(1, events(1, 25));
    expect(j.size).toBe(10);
    expect(ids(j)[0]).toBe('1:15');
    expect(j.missedAfter(null)).toEqual({ index: 1, n: 14 });
  });

  it('bounds the bytes of event fields kept, dropping the oldest, the same after a snapshot', () => {
    const big = (index: number): JournalEvent => ({ index, n: 0, name: 'e', payload: { text: 'x'.repeat(90) }, timestamp: 0, correlationId: null, causationId: null });
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 1000, maxBytes: 1000, consumers: null });
    for (let i = 1; i <= 30; i++) j.append(i, [big(i)]);
    // Each event's fields are 103 bytes of JSON: 9 fit in 1,000.
    expect(j.size).toBe(9);
    expect(ids(j)[0]).toBe('22:0');
    expect(j.missedAfter(null)).toEqual({ index: 21, n: 0 });
    const copy = new EventJournal({ names: new Set(['e']), maxEventLag: 1000, maxBytes: 1000, consumers: null });
    copy.restore(JSON.parse(JSON.stringify(j.snapshot())));
    copy.append(31, [big(31)]);
    j.append(31, [big(31)]);
    expect(ids(copy)).toEqual(ids(j));
  });

  it('with only once processors, drops what all of them checkpointed, never moving a checkpoint back', () => {
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 1000, maxBytes: 1 << 30, consumers: ['a', 'b'] });
    for (let i = 1; i <= 5; i++) j.append(i, events(i, 1));
    j.advanceCheckpoint('a', { index: 4, n: 0 }, 6);
    expect(j.size).toBe(5); // b has not checkpointed: nothing is dropped
    j.advanceCheckpoint('b', { index: 2, n: 0 }, 7);
    expect(ids(j)).toEqual(['3:0', '4:0', '5:0']);
    j.advanceCheckpoint('a', { index: 1, n: 0 }, 8); // an old leader's checkpoint arriving late
    expect(j.checkpoint('a')).toEqual({ index: 4, n: 0 });
    expect(j.missedAfter({ index: 2, n: 0 })).toBeNull();
  });

  it('round-trips through a snapshot, and a restore wakes the readers', () => {
    const j = new EventJournal({ names: new Set(['e']), maxEventLag: 3, maxBytes: 1 << 30, consumers: null });
    for (let i = 1; i <= 5; i++) j.append(i, events(i, 1));
    j.advanceCheckpoint('a', { index: 4, n: 0 }, 6);
    const copy = new EventJournal({ names: new Set(['e']), maxEventLag: 3, maxBytes: 1 << 30, consumers: null });
    let woken = 0;
    copy.onAppend(() => woken++);
    copy.restore(JSON.parse(JSON.stringify(j.snapshot())));
    expect(ids(copy)).toEqual(ids(j));
    expect(copy.missedAfter(null)).toEqual(j.missedAfter(null));
    expect(copy.checkpoint('a')).toEqual({ index: 4, n: 0 });
    expect(woken).toBe(1);
    copy.restore(undefined);
    expect(copy.size).toBe(0);
    expect(copy.missedAfter(null)).toBeNull();
  });
});
