import { newLog, message } from './support';

describe('MessageLog', () => {
  it('keeps messages in commit order and finds them by msg_id', () => {
    const log = newLog();
    log.append(message(2));
    log.append(message(5));
    log.append(message(9));
    expect(log.after(0, 10).map((m) => m.commit_index)).toEqual([2, 5, 9]);
    expect(log.after(2, 10).map((m) => m.commit_index)).toEqual([5, 9]);
    expect(log.after(3, 1).map((m) => m.commit_index)).toEqual([5]);
    expect(log.after(9, 10)).toEqual([]);
    expect(log.findByMsgId('m5')?.commit_index).toBe(5);
    expect([log.firstIndex, log.lastIndex, log.size]).toEqual([2, 9, 3]);
  });

  it('refuses an entry that is not after the last one, or a msg_id already stored', () => {
    const log = newLog();
    log.append(message(3));
    expect(() => log.append(message(3, { msg_id: 'other' }))).toThrow(/not after/);
    expect(() => log.append(message(4, { msg_id: 'm3' }))).toThrow(/already stored/);
    expect(log.size).toBe(1);
  });

  it('evicts the oldest messages beyond maxMessages, with their msg_id entries', () => {
    const log = newLog({ maxMessages: 3 });
    for (let i = 1; i <= 10; i++) log.append(message(i));
    expect(log.after(0, 100).map((m) => m.commit_index)).toEqual([8, 9, 10]);
    expect(log.evictedThrough).toBe(7);
    expect(log.findByMsgId('m7')).toBeUndefined();
    expect(log.findByMsgId('m8')).toBeDefined();
  });

  it('evicts by bytes too, but always keeps the newest message', () => {
    const log = newLog({ maxLogBytes: 1000 });
    log.append(message(1, { payload: 'x'.repeat(400) }));
    log.append(message(2, { payload: 'x'.repeat(400) }));
    expect(log.size).toBe(2);
    log.append(message(3, { payload: 'x'.repeat(400) }));
    expect(log.after(0, 10).map((m) => m.commit_index)).toEqual([2, 3]);
    log.append(message(4, { payload: 'x'.repeat(5000) }));
    expect(log.after(0, 10).map((m) => m.commit_index)).toEqual([4]);
    expect(log.totalBytes).toBeGreaterThan(1000);
  });

  it('stays bounded and correct over many evictions (head compaction)', () => {
    const log = newLog({ maxMessages: 1000 });
    for (let i = 1; i <= 20_000; i++) log.append(message(i));
    expect(log.size).toBe(1000);
    expect(log.firstIndex).toBe(19_001);
    expect(log.after(19_500, 2).map((m) => m.commit_index)).toEqual([19_501, 19_502]);
    expect(log.snapshot().messages).toHaveLength(1000);
  });

  it('round-trips through snapshot and restore, index and eviction state included', () => {
    const a = newLog({ maxMessages: 3 });
    for (let i = 1; i <= 5; i++) a.append(message(i));
    const b = newLog({ maxMessages: 3 });
    b.append(message(1, { msg_id: 'stale' }));
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.findByMsgId('stale')).toBeUndefined();
    expect(b.findByMsgId('m5')?.commit_index).toBe(5);
    expect(b.evictedThrough).toBe(2);
    b.append(message(6));
    a.append(message(6));
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it('restore(undefined) empties it; a foreign snapshot is refused', () => {
    const log = newLog();
    log.append(message(1));
    log.restore(undefined);
    expect(log.size).toBe(0);
    expect(() => log.restore([['k', 'v']])).toThrow(/version 1/);
  });

  it('tells subscribers about appends and resets', () => {
    const log = newLog();
    const seen: string[] = [];
    log.changes$.subscribe((c) => seen.push(c.type === 'appended' ? `+${c.message.commit_index}` : 'reset'));
    log.append(message(1));
    log.restore(undefined);
    expect(seen).toEqual(['+1', 'reset']);
  });
});
