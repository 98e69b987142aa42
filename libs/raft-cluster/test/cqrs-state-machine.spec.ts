import { EntryType, type Entry } from '@raft-cqrs/raft';
import { InMemoryStore, Replicated, requireApplyContext } from '../src';
import { CqrsStateMachine } from '../src/cqrs/cqrs-state-machine';
import { decodeEnvelope, encodeCommandRequest, encodeEnvelope, requestHash, stampRequest } from '../src/cqrs/envelope';
import { quietApplyHost } from './support';

@Replicated('unit.add')
class AddCommand {
  constructor(
    readonly key: string,
    readonly n: number,
  ) {}
}

/** A state machine over one store, with a host that runs AddCommand like a handler would. */
function machine(maxSessions = 100, digestInterval = 1000) {
  const store = new InMemoryStore<number>();
  const applied: string[] = [];
  const sm = new CqrsStateMachine(
    quietApplyHost(async (cmd) => {
      const c = cmd as AddCommand;
      expect(c).toBeInstanceOf(AddCommand);
      if (c.n < 0) throw new Error('negative');
      const ctx = requireApplyContext();
      applied.push(`${ctx.index}:${c.key}`);
      store.set(c.key, (store.get(c.key) ?? 0) + c.n);
      return { key: c.key, total: store.get(c.key), id: ctx.newId(), at: ctx.timestamp };
    }),
    new Map([['unit', store]]),
    { maxSessions, digestInterval },
  );
  return { sm, store, applied };
}

function entry(index: number, key: string, n: number, r: string): Entry {
  const p = { key, n };
  const data = encodeEnvelope({ v: 1, k: 'cmd', n: 'unit.add', p, r, h: requestHash([{ n: 'unit.add', pj: JSON.stringify(p) }]), ts: 1_700_000_000_000 + index, s: `seed-${index}` });
  return { index, term: 1, type: EntryType.Normal, data };
}

describe('CqrsStateMachine', () => {
  it('gives the same results and ids on every replica and on replay', async () => {
    const a = machine();
    const b = machine();
    const entries = [entry(1, 'x', 1, 'r1'), entry(2, 'x', 2, 'r2'), entry(3, 'y', 5, 'r3')];
    const ra = [];
    const rb = [];
    for (const e of entries) ra.push(await a.sm.apply(e, { index: e.index, term: 1 }));
    for (const e of entries) rb.push(await b.sm.apply(e, { index: e.index, term: 1 }));
    expect(ra).toEqual(rb);
    expect(ra[1]).toMatchObject({ key: 'x', total: 3, at: 1_700_000_000_002 });
    expect(a.sm.snapshot()).toEqual(b.sm.snapshot());
  });

  it('answers a repeated request id from the session table without applying again, errors included', async () => {
    const { sm, store, applied } = machine();
    const first = await sm.apply(entry(1, 'x', 4, 'same'), { index: 1, term: 1 });
    const again = await sm.apply(entry(2, 'x', 4, 'same'), { index: 2, term: 1 });
    expect(again).toEqual(first);
    expect(store.get('x')).toBe(4);
    expect(applied).toEqual(['1:x']);
    await expect(sm.apply(entry(3, 'x', -1, 'bad'), { index: 3, term: 1 })).rejects.toThrow('negative');
    await expect(sm.apply(entry(4, 'x', -1, 'bad'), { index: 4, term: 1 })).rejects.toMatchObject({ name: 'Error', message: 'negative' });
    // Another command under a used id is refused.
    await expect(sm.apply(entry(5, 'x', 9, 'same'), { index: 5, term: 1 })).rejects.toMatchObject({ status: 422 });
    expect(store.get('x')).toBe(4);
  });

  it('keeps at most maxSessions request ids, forgetting the oldest first', async () => {
    const { sm, applied } = machine(3);
    for (let i = 1; i <= 5; i++) await sm.apply(entry(i, 'k', 1, `r${i}`), { index: i, term: 1 });
    expect(sm.sessionCount).toBe(3);
    await sm.apply(entry(6, 'k', 1, 'r5'), { index: 6, term: 1 }); // remembered: not applied
    await sm.apply(entry(7, 'k', 1, 'r1'), { index: 7, term: 1 }); // forgotten: applied again
    expect(applied).toEqual(['1:k', '2:k', '3:k', '4:k', '5:k', '7:k']);
    expect(sm.sessionCount).toBe(3);
  });

  it('restores stores and sessions from its snapshot', async () => {
    const a = machine();
    for (let i = 1; i <= 3; i++) await a.sm.apply(entry(i, `k${i}`, i, `r${i}`), { index: i, term: 1 });
    const snap = a.sm.snapshot();
    const doc = JSON.parse(new TextDecoder().decode(snap)) as { v: number; stores: Record<string, unknown>; sessions: [string, { h: string; o: unknown }][] };
    expect(doc.v).toBe(1);
    expect(doc.stores).toEqual({ unit: [['k1', 1], ['k2', 2], ['k3', 3]] });
    expect(doc.sessions.map(([r, rec]) => [r, rec.o])).toEqual([1, 2, 3].map((i) => [`r${i}`, { ok: true, v: expect.objectContaining({ key: `k${i}`, total: i }) }]));
    const b = machine();
    await b.sm.apply(entry(1, 'junk', 1, 'junk'), { index: 1, term: 1 });
    b.sm.restore(snap);
    expect([...b.store.entries()]).toEqual([...a.store.entries()]);
    await b.sm.apply(entry(4, 'k1', 1, 'r1'), { index: 4, term: 1 }); // a retry after restore is still de-duplicated
    expect(b.store.get('k1')).toBe(1);
    b.sm.restore(new Uint8Array(0));
    expect(b.store.size).toBe(0);
    expect(b.sm.sessionCount).toBe(0);
  });

  it('captures the document snapshot() gives at the call, while applies go on during its slices', async () => {
    const a = machine();
    for (let i = 1; i <= 2500; i++) await a.sm.apply(entry(i, `k${i % 1500}`, 1, `r${i}`), { index: i, term: 1 });
    const expected = new TextDecoder().decode(a.sm.snapshot());
    const capturing = a.sm.captureSnapshot();
    // Applies interleave with the slices (one slice per event-loop turn).
    for (let i = 2501; i <= 2600; i++) {
      await a.sm.apply(entry(i, `k${i % 1500}`, 1, `r${i}`), { index: i, term: 1 });
      await new Promise((r) => setImmediate(r));
    }
    const captured = await capturing;
    expect(new TextDecoder().decode(captured!)).toBe(expected);
    expect(a.store.get('k1100')).toBe(2); // the live state moved on (k1100 written at 1100 and 2600), the snapshot did not
  });

  it('drops a capture when the state is restored meanwhile', async () => {
    const a = machine();
    for (let i = 1; i <= 1500; i++) await a.sm.apply(entry(i, `k${i}`, 1, `r${i}`), { index: i, term: 1 });
    const snap = a.sm.snapshot();
    const capturing = a.sm.captureSnapshot();
    a.sm.restore(snap);
    expect(await capturing).toBeNull();
  });

  it('takes the same digest whether its sessions were recorded by apply or read from a snapshot', async () => {
    const a = machine(100, 4);
    for (let i = 1; i <= 3; i++) await a.sm.apply(entry(i, `k${i}`, i, `r${i}`), { index: i, term: 1 });
    const b = machine(100, 4);
    b.sm.restore(a.sm.snapshot());
    await a.sm.apply(entry(4, 'k4', 4, 'r4'), { index: 4, term: 1 });
    await b.sm.apply(entry(4, 'k4', 4, 'r4'), { index: 4, term: 1 });
    const da = a.sm.digestStatus().latest;
    expect(da?.index).toBe(4);
    expect(b.sm.digestStatus().latest).toEqual(da);
    // A session that differs changes the digest.
    const c = machine(100, 4);
    for (let i = 1; i <= 3; i++) await c.sm.apply(entry(i, `k${i}`, i, `other${i}`), { index: i, term: 1 });
    await c.sm.apply(entry(4, 'k4', 4, 'r4'), { index: 4, term: 1 });
    expect(c.sm.digestStatus().latest?.digest).not.toBe(da?.digest);
  });

  it('stamps a request serialised once into the envelope the state machine reads', () => {
    const req = encodeCommandRequest('unit.add', JSON.stringify({ key: 'é"x', n: 2 }), 'r"1');
    const env = decodeEnvelope(stampRequest(req, 1_700_000_000_123, 'seed"1'));
    expect(env).toEqual({ v: 1, k: 'cmd', n: 'unit.add', p: { key: 'é"x', n: 2 }, r: 'r"1', h: requestHash([{ n: 'unit.add', pj: '{"key":"é\\"x","n":2}' }]), ts: 1_700_000_000_123, s: 'seed"1' });
  });

  it('rejects an entry that is not an envelope, the same way on every node', async () => {
    const { sm, store } = machine();
    const bad: Entry = { index: 1, term: 1, type: EntryType.Normal, data: new TextEncoder().encode('{"not":"an envelope"}') };
    await expect(sm.apply(bad, { index: 1, term: 1 })).rejects.toMatchObject({ status: 400 });
    expect(store.size).toBe(0);
  });
});
