import { EventJournal, JournalEvent } from '../src/processors/event-journal';
import { EventPosition, formatPosition } from '../src/processors/event-position';
import type { EventProcessorHandler, ProcessedEventMeta, ProcessorResetInfo } from '../src/processors/event-processor.decorator';
import { ProcessorRunner, RunnerReports } from '../src/processors/processor-runner';
import { waitFor } from './support';

function event(index: number, n = 0): JournalEvent {
  return { index, n, name: 'e', payload: { value: index }, timestamp: 1, correlationId: `c${index}`, causationId: `r${index}` };
}

function setUp(handler: EventProcessorHandler, maxEventLag = 1000) {
  const journal = new EventJournal({ names: new Set(['e']), maxEventLag, maxBytes: 1 << 30, consumers: null });
  const handled: EventPosition[] = [];
  const failures: number[] = [];
  const reports: RunnerReports = {
    handled: (_p, position) => handled.push(position),
    failed: (_p, _id, attempt) => failures.push(attempt),
    recovered: () => undefined,
    reset: () => undefined,
  };
  const runner = new ProcessorRunner({ name: 'p', mode: 'every-node', events: [] }, handler, journal, (e) => ({ ...(e.payload as object) }), reports);
  return { journal, runner, handled, failures };
}

describe('ProcessorRunner', () => {
  it('delivers every event once, in log order, with its id and tracing ids, resuming after its start position', async () => {
    const seen: string[] = [];
    const metas: ProcessedEventMeta[] = [];
    const { journal, runner, handled } = setUp({
      handle: async (e: { value: number }, meta) => {
        seen.push(`${e.value}@${meta.eventId}`);
        metas.push(meta);
        await new Promise((r) => setImmediate(r));
      },
    });
    journal.append(1, [event(1)]);
    journal.append(2, [event(2), event(2, 1)]);
    runner.start({ index: 1, n: 0 });
    journal.append(3, [event(3)]);
    await waitFor('three handled', () => handled.length === 3);
    expect(seen).toEqual(['2@2:0', '2@2:1', '3@3:0']);
    expect(metas[2]).toMatchObject({ index: 3, correlationId: 'c3', causationId: 'r3', attempt: 0 });
    expect(runner.status()).toMatchObject({ checkpoint: '3:0', lag: 0, state: 'idle', handled: 3 });
    runner.close();
  });

  it('retries a failing delivery without skipping or reordering, and reports it as failing meanwhile', async () => {
    let failuresLeft = 4;
    const seen: string[] = [];
    const { journal, runner, handled, failures } = setUp({
      handle: (_e, meta) => {
        if (meta.index === 2 && failuresLeft-- > 0) throw new Error('receiver down');
        seen.push(meta.eventId);
      },
    });
    for (let i = 1; i <= 3; i++) journal.append(i, [event(i)]);
    runner.start(null);
    await waitFor('a failing report', () => runner.status().failing);
    expect(runner.status()).toMatchObject({ checkpoint: '1:0', state: 'retrying', lastError: 'receiver down' });
    expect(runner.status().lag).toBe(2);
    await waitFor('all handled', () => handled.length === 3, 20_000);
    expect(seen).toEqual(['1:0', '2:0', '3:0']);
    expect(failures).toEqual([1, 2, 3, 4]);
    expect(runner.status().failing).toBe(false);
    runner.close();
  });

  it('resets a processor whose next events the journal no longer holds, then goes on after them', async () => {
    const resets: ProcessorResetInfo[] = [];
    const seen: string[] = [];
    const { journal, runner, handled } = setUp(
      {
        handle: (_e, meta) => void seen.push(meta.eventId),
        reset: (info) => void resets.push(info),
      },
      3,
    );
    for (let i = 1; i <= 8; i++) journal.append(i, [event(i)]);
    runner.start({ index: 2, n: 0 });
    await waitFor('caught up', () => handled.length > 0 && formatPosition(handled[handled.length - 1]) === '8:0');
    expect(resets).toEqual([{ processor: 'p', checkpoint: '2:0', resumeAfter: '5:0' }]);
    expect(seen).toEqual(['6:0', '7:0', '8:0']);
    runner.close();
  });

  it('a stop lets the delivery in progress end but does not count it', async () => {
    let release!: () => void;
    const { journal, runner, handled } = setUp({ handle: () => new Promise<void>((r) => (release = r)) });
    journal.append(1, [event(1)]);
    runner.start(null);
    await waitFor('handling', () => runner.status().state === 'handling');
    runner.stop('standby');
    release();
    await new Promise((r) => setImmediate(r));
    expect(handled).toEqual([]);
    expect(runner.status()).toMatchObject({ state: 'standby', checkpoint: null, lag: 1 });
    runner.close();
  });
});

it('a stop and a quick start never run two deliveries at once', async () => {
  let inFlight = 0;
  let most = 0;
  let release: (() => void) | null = null;
  const { journal, runner, handled } = setUp({
    handle: async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((r) => (release = r));
      inFlight--;
    },
  });
  journal.append(1, [event(1)]);
  journal.append(2, [event(2)]);
  runner.start(null);
  await waitFor('handling', () => release !== null);
  runner.stop('standby');
  runner.start(null); // leadership came back at once: the first delivery is still in progress
  await new Promise((r) => setImmediate(r));
  expect(inFlight).toBe(1);
  for (let i = 0; i < 3 && handled.length < 2; i++) {
    const r = release as (() => void) | null;
    release = null;
    r?.();
    await waitFor('next delivery or done', () => release !== null || handled.length === 2);
  }
  expect(most).toBe(1);
  expect(handled.map(formatPosition)).toEqual(['1:0', '2:0']);
  runner.close();
});
