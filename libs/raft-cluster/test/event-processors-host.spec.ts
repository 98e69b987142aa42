import { RaftClusterLogger } from '../src/raft-cluster.logger';
import { RaftClusterMetrics } from '../src/raft-cluster.metrics';
import { MemoryCheckpointStore } from '../src/processors/checkpoint-store';
import { EventJournal, JournalEvent } from '../src/processors/event-journal';
import type { EventProcessorMetadata } from '../src/processors/event-processor.decorator';
import { EventProcessors, ProcessorClusterPort } from '../src/processors/event-processors';
import { CapturingLogger, waitFor } from './support';

class Thing {}
const meta = (name: string, mode: EventProcessorMetadata['mode']): EventProcessorMetadata => ({ name, mode, events: [Thing] });
const event = (index: number): JournalEvent => ({ index, n: 0, name: 'Thing', payload: {}, timestamp: 0, correlationId: `corr-${index}`, causationId: null });

function host(port: Partial<ProcessorClusterPort>, handlers: { name: string; mode: EventProcessorMetadata['mode']; handle: (e: object, m: { eventId: string }) => unknown }[]) {
  const journal = new EventJournal({ names: new Set(['Thing']), maxEventLag: 1000, maxBytes: 1 << 20, consumers: null });
  const store = new MemoryCheckpointStore();
  const sink = new CapturingLogger();
  const metrics = new RaftClusterMetrics({ processMetrics: false });
  const processors = new EventProcessors(
    handlers.map((h) => ({ meta: meta(h.name, h.mode), instance: { handle: h.handle } })),
    journal,
    store,
    { isLeader: () => false, readBarrier: async () => undefined, proposeCheckpoints: async () => undefined, ...port },
    () => ({}),
    new RaftClusterLogger('n1', null, sink),
    metrics,
  );
  return { journal, store, sink, metrics, processors };
}

describe('EventProcessors', () => {
  it('a processor that keeps failing is reported (status, metrics, log with the correlation id) and holds no other back', async () => {
    const done: string[] = [];
    const h = host({}, [
      { name: 'broken', mode: 'every-node', handle: () => Promise.reject(new Error('smtp down')) },
      { name: 'fine', mode: 'every-node', handle: (_e, m) => void done.push(m.eventId) },
    ]);
    await h.processors.start();
    for (let i = 1; i <= 5; i++) h.journal.append(i, [event(i)]);
    await waitFor('fine handled all', () => done.length === 5);
    await waitFor('broken reported failing', () => h.processors.status().find((s) => s.name === 'broken')?.failing);
    const broken = h.processors.status().find((s) => s.name === 'broken')!;
    expect(broken).toMatchObject({ checkpoint: null, lag: 5, lastError: 'smtp down', state: 'retrying' });
    expect(h.processors.status().find((s) => s.name === 'fine')).toMatchObject({ checkpoint: '5:0', lag: 0, failing: false });
    const text = await h.metrics.metrics();
    expect(text).toMatch(/raft_event_processor_failing\{processor="broken"\} 1/);
    expect(text).toMatch(/raft_event_processor_failures_total\{processor="broken"\} [3-9]/);
    expect(text).toMatch(/raft_event_processor_lag_events\{processor="fine"\} 0/);
    expect(h.sink.lines.some((l) => l.includes('event processor broken: event 1:0 (correlation corr-1) failed'))).toBe(true);
    await waitFor('fine checkpoint saved', async () => (await h.store.load('fine')) === '5:0');
    await h.processors.stop();
  });

  it('a once processor runs only while leading, after the barrier, and proposes its progress as one batched checkpoint', async () => {
    let leader = false;
    const proposals: Record<string, string>[] = [];
    const done: string[] = [];
    const h = host({ isLeader: () => leader, proposeCheckpoints: async (c) => void proposals.push(c) }, [
      { name: 'hook-a', mode: 'once', handle: (_e, m) => void done.push(`a${m.eventId}`) },
      { name: 'hook-b', mode: 'once', handle: (_e, m) => void done.push(`b${m.eventId}`) },
    ]);
    for (let i = 1; i <= 3; i++) h.journal.append(i, [event(i)]);
    await h.processors.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toEqual([]);
    expect(h.processors.status().map((s) => s.state)).toEqual(['standby', 'standby']);
    leader = true;
    h.processors.leadershipChanged(true);
    await waitFor('both handled 3', () => done.length === 6);
    await waitFor('a checkpoint proposal', () => proposals.some((p) => p['hook-a'] === '3:0' && p['hook-b'] === '3:0'));
    h.processors.leadershipChanged(false);
    h.journal.append(4, [event(4)]);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toHaveLength(6);
    await h.processors.stop();
  });
});
