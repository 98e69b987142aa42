import { EntryType, type Entry } from '@raft-cqrs/raft';
import { InMemoryStore, Replicated, ReplicatedEvent } from '../src';
import { recordRaisedEvent, requireApplyContext } from '../src/cqrs/apply-context';
import { CqrsStateMachine } from '../src/cqrs/cqrs-state-machine';
import { encodeBatchRequest, encodeCommandRequest, encodeEnvelope, stampRequest } from '../src/cqrs/envelope';
import { EventJournal, JournalEvent } from '../src/processors/event-journal';
import { quietApplyHost } from './support';

@Replicated('journal-test.raise')
class Raise {
  constructor(
    readonly key: string,
    readonly events: number,
    readonly fail = false,
  ) {}
}

@ReplicatedEvent('journal-test.raised')
class Raised {
  constructor(
    readonly key: string,
    readonly i: number,
  ) {}
}

class NobodyListens {
  constructor(readonly key: string) {}
}

/** A state machine whose handler raises `events` Raised events (as EventBus.publish does during apply), then fails if asked. */
function machine(): { sm: CqrsStateMachine; journal: EventJournal } {
  const journal = new EventJournal({ names: new Set(['journal-test.raised']), maxEventLag: 100, maxBytes: 1 << 30, consumers: null });
  const store = new InMemoryStore<number>();
  const sm = new CqrsStateMachine(
    quietApplyHost(async (cmd) => {
      const c = cmd as Raise;
      requireApplyContext();
      store.set(c.key, c.events);
      for (let i = 0; i < c.events; i++) recordRaisedEvent(new Raised(c.key, i));
      recordRaisedEvent(new NobodyListens(c.key));
      if (c.fail) throw new Error('refused');
      return c.key;
    }),
    new Map([['journal-test', store]]),
    { maxSessions: 100, digestInterval: 1000, journal },
  );
  return { sm, journal };
}

const at = (index: number, data: Uint8Array): Entry => ({ index, term: 1, type: EntryType.Normal, data });

function command(index: number, c: Raise, r: string, trace: { co?: string; ca?: string } = {}): Entry {
  return at(index, stampRequest(encodeCommandRequest('journal-test.raise', JSON.stringify({ ...c }), r, trace), 1_000 + index, `s${index}`));
}

function all(journal: EventJournal): JournalEvent[] {
  const out: JournalEvent[] = [];
  for (let e = journal.after(null); e !== undefined; e = journal.after(e)) out.push(e);
  return out;
}

describe('the event journal in the CQRS state machine', () => {
  it('keeps the events a command raised that some processor handles, with their ids and tracing ids', async () => {
    const { sm, journal } = machine();
    await sm.apply(command(1, new Raise('a', 2), 'req-1', { co: 'corr-1', ca: 'cause-1' }), { index: 1, term: 1 });
    await sm.apply(command(2, new Raise('b', 1), 'req-2'), { index: 2, term: 1 });
    expect(all(journal)).toEqual([
      { index: 1, n: 0, name: 'journal-test.raised', payload: { key: 'a', i: 0 }, timestamp: 1_001, correlationId: 'corr-1', causationId: 'req-1' },
      { index: 1, n: 1, name: 'journal-test.raised', payload: { key: 'a', i: 1 }, timestamp: 1_001, correlationId: 'corr-1', causationId: 'req-1' },
      // Without a correlation id the request id stands for it.
      { index: 2, n: 0, name: 'journal-test.raised', payload: { key: 'b', i: 0 }, timestamp: 1_002, correlationId: 'req-2', causationId: 'req-2' },
    ]);
  });

  it('keeps nothing of a command that failed, and numbers a batch\'s events across its commands', async () => {
    const { sm, journal } = machine();
    await expect(sm.apply(command(1, new Raise('a', 2, true), 'req-1'), { index: 1, term: 1 })).rejects.toThrow('refused');
    expect(journal.size).toBe(0);
    const batch = encodeBatchRequest(
      [
        { n: 'journal-test.raise', pj: JSON.stringify({ ...new Raise('x', 2) }) },
        { n: 'journal-test.raise', pj: JSON.stringify({ ...new Raise('y', 1) }) },
      ],
      'req-2',
    );
    await sm.apply(at(2, stampRequest(batch, 2_000, 's2')), { index: 2, term: 1 });
    expect(all(journal).map((e) => `${e.index}:${e.n}:${(e.payload as { key: string }).key}`)).toEqual(['2:0:x', '2:1:x', '2:2:y']);
  });

  it('carries the journal and the once checkpoints through a snapshot', async () => {
    const { sm, journal } = machine();
    for (let i = 1; i <= 3; i++) await sm.apply(command(i, new Raise(`k${i}`, 1), `r${i}`), { index: i, term: 1 });
    await sm.apply(at(4, encodeEnvelope({ v: 1, k: 'ckpt', c: { webhook: '2:0', bogus: 'not-an-id' } })), { index: 4, term: 1 });
    expect(journal.checkpoint('webhook')).toEqual({ index: 2, n: 0 });
    expect(journal.checkpoint('bogus')).toBeNull();
    const copy = machine();
    copy.sm.restore(sm.snapshot());
    expect(all(copy.journal)).toEqual(all(journal));
    expect(copy.journal.checkpoint('webhook')).toEqual({ index: 2, n: 0 });
    const captured = await sm.captureSnapshot();
    const third = machine();
    third.sm.restore(captured!);
    expect(all(third.journal)).toEqual(all(journal));
  });
});
