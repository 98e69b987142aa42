import { SessionTable, SessionTableSnapshot } from '../src/core';

function table(maxSessions = 8, maxResponsesPerClient = 4): SessionTable<string> {
  return new SessionTable<string>({ maxSessions, maxResponsesPerClient });
}

describe('SessionTable', () => {
  it('refuses limits below 1', () => {
    expect(() => table(0, 1)).toThrow();
    expect(() => table(1, 0)).toThrow();
  });

  it('treats an unknown client as new', () => {
    const t = table();
    expect(t.lookup('c1', 1)).toEqual({ kind: 'new' });
    expect(t.size).toBe(0); // a lookup creates nothing
  });

  it('answers a duplicate with the recorded response, and a new seq as new', () => {
    const t = table();
    t.record('c1', 1, 'r1', 10);
    expect(t.lookup('c1', 1)).toEqual({ kind: 'duplicate', response: 'r1' });
    expect(t.lookup('c1', 2)).toEqual({ kind: 'new' });
    expect(t.lookup('c2', 1)).toEqual({ kind: 'new' }); // sessions are per client
  });

  it('records an empty-string response as a real response', () => {
    const t = table();
    t.record('c1', 1, '', 10);
    expect(t.lookup('c1', 1)).toEqual({ kind: 'duplicate', response: '' });
  });

  it('drops responses the client acknowledged (ackedBelow) and reports them stale afterwards', () => {
    const t = table();
    t.record('c1', 1, 'r1', 10);
    t.record('c1', 2, 'r2', 11);
    t.record('c1', 3, 'r3', 12);
    // The client sends seq 4 saying it has the answers to everything below 3.
    expect(t.lookup('c1', 4, 3)).toEqual({ kind: 'new' });
    expect(t.lookup('c1', 1)).toEqual({ kind: 'stale' });
    expect(t.lookup('c1', 2)).toEqual({ kind: 'stale' });
    expect(t.lookup('c1', 3)).toEqual({ kind: 'duplicate', response: 'r3' });
    // A later, lower acknowledgement does not bring anything back or lower the floor.
    expect(t.lookup('c1', 2, 1)).toEqual({ kind: 'stale' });
    const snap = t.toSnapshot();
    expect(snap.sessions[0][1].floor).toBe(3);
    expect(snap.sessions[0][1].responses.map(([seq]) => seq)).toEqual([3]);
  });

  it('keeps at most maxResponsesPerClient responses per client, forgetting the oldest', () => {
    const t = table(8, 2);
    t.record('c1', 1, 'r1', 10);
    t.record('c1', 2, 'r2', 11);
    t.record('c1', 3, 'r3', 12);
    expect(t.lookup('c1', 1)).toEqual({ kind: 'stale' });
    expect(t.lookup('c1', 2)).toEqual({ kind: 'duplicate', response: 'r2' });
    expect(t.lookup('c1', 3)).toEqual({ kind: 'duplicate', response: 'r3' });
    expect(t.lookup('c1', 4)).toEqual({ kind: 'new' });
    // Other clients have their own window.
    t.record('c2', 1, 'x1', 13);
    expect(t.lookup('c2', 1)).toEqual({ kind: 'duplicate', response: 'x1' });
  });

  it('forgets the oldest response by seq even when responses were recorded out of order', () => {
    const t = table(8, 2);
    t.record('c1', 5, 'r5', 10);
    t.record('c1', 3, 'r3', 11);
    t.record('c1', 4, 'r4', 12);
    expect(t.lookup('c1', 3)).toEqual({ kind: 'stale' });
    expect(t.lookup('c1', 4)).toEqual({ kind: 'duplicate', response: 'r4' });
    expect(t.lookup('c1', 5)).toEqual({ kind: 'duplicate', response: 'r5' });
  });

  it('evicts the least recently recorded session beyond maxSessions', () => {
    const t = table(2, 4);
    t.record('a', 1, 'a1', 1);
    t.record('b', 1, 'b1', 2);
    t.record('a', 2, 'a2', 3); // a is now the most recent
    t.record('c', 1, 'c1', 4); // evicts b
    expect(t.size).toBe(2);
    expect(t.lookup('b', 1)).toEqual({ kind: 'new' });
    expect(t.lookup('a', 1)).toEqual({ kind: 'duplicate', response: 'a1' });
    expect(t.lookup('c', 1)).toEqual({ kind: 'duplicate', response: 'c1' });
  });

  it('evicts deterministically: lookups (which replicas may not all do) do not refresh a session', () => {
    const replay = (withLookups: boolean): SessionTableSnapshot<string> => {
      const t = table(2, 4);
      t.record('a', 1, 'a1', 1);
      t.record('b', 1, 'b1', 2);
      if (withLookups) t.lookup('a', 1);
      t.record('c', 1, 'c1', 3);
      return t.toSnapshot();
    };
    const plain = replay(false);
    expect(replay(true)).toEqual(plain);
    expect(plain.sessions.map(([id]) => id)).toEqual(['b', 'c']);
  });

  it('round-trips through a snapshot (JSON), keeping responses, floors and LRU order', () => {
    const t = table(3, 2);
    t.record('a', 1, 'a1', 1);
    t.record('b', 1, 'b1', 2);
    t.record('b', 2, 'b2', 3);
    t.record('b', 3, 'b3', 4); // b's window drops seq 1
    t.record('c', 7, 'c7', 5);
    t.lookup('c', 8, 7); // c acknowledged everything below 7
    const snap = JSON.parse(JSON.stringify(t.toSnapshot())) as SessionTableSnapshot<string>;

    const r = table(3, 2);
    r.record('zzz', 1, 'gone', 1); // restore replaces whatever was there
    r.restore(snap);
    expect(r.size).toBe(3);
    expect(r.lookup('zzz', 1)).toEqual({ kind: 'new' });
    expect(r.lookup('a', 1)).toEqual({ kind: 'duplicate', response: 'a1' });
    expect(r.lookup('b', 1)).toEqual({ kind: 'stale' });
    expect(r.lookup('b', 3)).toEqual({ kind: 'duplicate', response: 'b3' });
    expect(r.lookup('c', 6)).toEqual({ kind: 'stale' });
    expect(r.lookup('c', 7)).toEqual({ kind: 'duplicate', response: 'c7' });
    expect(r.toSnapshot()).toEqual(t.toSnapshot());
    // Both evict the same session next (a: least recently recorded).
    t.record('d', 1, 'd1', 6);
    r.record('d', 1, 'd1', 6);
    expect(r.toSnapshot()).toEqual(t.toSnapshot());
    expect(r.lookup('a', 1)).toEqual({ kind: 'new' });
  });
});
