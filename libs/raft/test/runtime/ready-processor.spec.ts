/**
 * The order in which the Ready processor calls its ports, with a persist that finishes later (as the
 * runtime's storage does): nothing that promises durability leaves, and nothing is applied or
 * acknowledged to the core, before the write is done.
 */
import { Entry, HardState, Message, RaftCore } from '../../src/core';
import { DurableWrite, ReadyPorts, ReadyProcessor } from '../../src/runtime/ready-processor';
import { appendReq, entry, heartbeat, newCore, text } from '../harness';

interface Recorder {
  events: string[];
  writes: DurableWrite[];
  finishWrite(): void;
}

function recordingPorts(): ReadyPorts<string> & Recorder {
  let finish: (() => void) | null = null;
  const events: string[] = [];
  const writes: DurableWrite[] = [];
  const describe = (ms: Message[]): string => ms.map((m) => m.type).join(',');
  return {
    events,
    writes,
    finishWrite: () => finish!(),
    softState: (s) => events.push(`soft ${s.role} ${s.leaderId ?? '-'}`),
    send: (ms) => {
      if (ms.length > 0) events.push(`send ${describe(ms)}`);
    },
    writeSnapshotChunks: () => {
      events.push('chunks');
    },
    persist: (w) => {
      writes.push(w);
      events.push(`persist ${w.entries.length} entries, hard state ${w.hardState === null ? '-' : w.hardState.commit}`);
      return new Promise<void>((resolve) => (finish = resolve));
    },
    restoreSnapshot: (meta) => {
      events.push(`restore ${meta.index}`);
    },
    apply: (e: Entry) => {
      events.push(`apply ${e.index}`);
      return text(e);
    },
    onApplied: (e, result) => events.push(`applied ${e.index} ${result}`),
    readFailed: (id) => events.push(`read ${id} failed`),
    serveRead: (id, index) => events.push(`read ${id} served at ${index}`),
  };
}

function follower(): { core: RaftCore; ports: ReturnType<typeof recordingPorts>; processor: ReadyProcessor<string> } {
  const core = newCore('b', ['a', 'b']);
  const ports = recordingPorts();
  const processor = new ReadyProcessor(core, ports, { hardState: { term: 0, vote: null, commit: 0 }, applied: 0 });
  return { core, ports, processor };
}

describe('ReadyProcessor', () => {
  it('sends acknowledgements, applies and advances only once the write is durable', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 2));
    const done = processor.process(core.ready());
    expect(done).toBeInstanceOf(Promise);
    expect(ports.events).toEqual(['soft follower a', 'persist 2 entries, hard state 2']);
    expect(core.hasReady()).toBe(false); // not advanced yet
    expect(processor.applied).toBe(0);

    ports.finishWrite();
    await done;
    expect(ports.events.slice(2)).toEqual(['send append-resp', 'apply 1', 'applied 1 x', 'apply 2', 'applied 2 y']);
    expect(processor.applied).toBe(2);
    expect(processor.unsyncedHardState()).toBeNull();
    expect(core.log.stable).toBe(2);
  });

  it('keeps a hard state that only moves the commit index for the next sync', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 1));
    const first = processor.process(core.ready());
    ports.finishWrite();
    await first;
    expect(processor.applied).toBe(1);

    core.step(heartbeat('a', 'b', 1, 2));
    const commitOnly = core.ready();
    expect(processor.process(commitOnly)).toBeUndefined(); // nothing to wait for: no write at all
    expect(ports.writes).toHaveLength(1);
    expect(processor.applied).toBe(2);
    const kept: HardState | null = processor.unsyncedHardState();
    expect(kept).toEqual({ term: 1, vote: null, commit: 2 });

    core.step(appendReq('a', 'b', 1, 2, 1, [entry(3, 1, 'z')], 2));
    const next = processor.process(core.ready());
    expect(ports.writes[1].hardState).toBe(kept); // written with the next sync
    ports.finishWrite();
    await next;
    expect(processor.unsyncedHardState()).toBeNull();
  });

  it('serves a read once the applied index reaches it, and fails one the leader could not confirm', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 1));
    const first = processor.process(core.ready());
    ports.finishWrite();
    await first;
    ports.events.length = 0;

    core.step({ type: 'read-index-resp', from: 'a', to: 'b', term: 1, requestId: 5, index: 2 });
    core.step({ type: 'read-index-resp', from: 'a', to: 'b', term: 1, requestId: 6, index: -1 });
    processor.process(core.ready());
    expect(ports.events).toEqual(['read 6 failed']); // 5 waits: only index 1 is applied

    core.step(heartbeat('a', 'b', 1, 2));
    processor.process(core.ready());
    expect(ports.events.slice(1)).toEqual(['send heartbeat-resp', 'apply 2', 'applied 2 y', 'read 5 served at 2']);
  });
});
