/**
 * The order in which the Ready processor calls its ports, with writes that become durable later (as the
 * runtime's storage does): nothing that promises durability leaves, and nothing is applied or
 * acknowledged to the core, before the write is done; with several Readies in flight, writes are handed
 * to storage and Readies finish in the order they began.
 */
import { Entry, HardState, Message, RaftCore } from '../../src/core';
import { DurableWrite, ReadyPorts, ReadyProcessor } from '../../src/runtime/ready-processor';
import { appendReq, entry, heartbeat, newCore, text } from '../harness';

interface Recorder {
  events: string[];
  writes: DurableWrite[];
  /** Makes the oldest write not yet durable durable. */
  finishWrite(): void;
}

function recordingPorts(): ReadyPorts<string> & Recorder {
  const durable: (() => void)[] = [];
  const events: string[] = [];
  const writes: DurableWrite[] = [];
  const describe = (ms: Message[]): string => ms.map((m) => m.type).join(',');
  return {
    events,
    writes,
    finishWrite: () => durable.shift()!(),
    softState: (s) => events.push(`soft ${s.role} ${s.leaderId ?? '-'}`),
    send: (ms) => {
      if (ms.length > 0) events.push(`send ${describe(ms)}`);
    },
    writeSnapshotChunks: (_chunks, written) => {
      events.push('chunks');
      written();
    },
    persist: (w, done) => {
      writes.push(w);
      const what = w.snapshot === null ? '' : `snapshot ${w.snapshot.index}, `;
      events.push(`persist ${what}${w.entries.length} entries, hard state ${w.hardState === null ? '-' : w.hardState.commit}`);
      durable.push(done);
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
    finished: () => {
      events.push('finished');
    },
    fail: (err) => {
      throw err;
    },
  };
}

function follower(): { core: RaftCore; ports: ReturnType<typeof recordingPorts>; processor: ReadyProcessor<string> } {
  const core = newCore('b', ['a', 'b']);
  const ports = recordingPorts();
  const processor = new ReadyProcessor(core, ports, { hardState: { term: 0, vote: null, commit: 0 }, applied: 0 }, 2);
  return { core, ports, processor };
}

describe('ReadyProcessor', () => {
  it('sends acknowledgements, applies and advances only once the write is durable', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 2));
    processor.begin(core.ready());
    expect(processor.busy).toBe(true);
    expect(ports.events).toEqual(['soft follower a', 'persist 2 entries, hard state 2']);
    expect(core.log.stable).toBe(0); // not advanced yet
    expect(processor.applied).toBe(0);

    ports.finishWrite();
    expect(processor.busy).toBe(false);
    expect(ports.events.slice(2)).toEqual(['send append-resp', 'apply 1', 'applied 1 x', 'apply 2', 'applied 2 y', 'finished']);
    expect(processor.applied).toBe(2);
    expect(processor.unsyncedHardState()).toBeNull();
    expect(core.log.stable).toBe(2);
  });

  it('keeps a hard state that only moves the commit index for the next sync', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 1));
    processor.begin(core.ready());
    ports.finishWrite();
    expect(processor.applied).toBe(1);

    core.step(heartbeat('a', 'b', 1, 2));
    processor.begin(core.ready());
    expect(processor.busy).toBe(false); // nothing to wait for: no write at all
    expect(ports.writes).toHaveLength(1);
    expect(processor.applied).toBe(2);
    const kept: HardState | null = processor.unsyncedHardState();
    expect(kept).toEqual({ term: 1, vote: null, commit: 2 });

    core.step(appendReq('a', 'b', 1, 2, 1, [entry(3, 1, 'z')], 2));
    processor.begin(core.ready());
    expect(ports.writes[1].hardState).toBe(kept); // written with the next sync
    ports.finishWrite();
    expect(processor.unsyncedHardState()).toBeNull();
  });

  it('serves a read once the applied index reaches it, and fails one the leader could not confirm', async () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x'), entry(2, 1, 'y')], 1));
    processor.begin(core.ready());
    ports.finishWrite();
    ports.events.length = 0;

    core.step({ type: 'read-index-resp', from: 'a', to: 'b', term: 1, requestId: 5, index: 2 });
    core.step({ type: 'read-index-resp', from: 'a', to: 'b', term: 1, requestId: 6, index: -1 });
    processor.begin(core.ready());
    expect(ports.events).toEqual(['read 6 failed', 'finished']); // 5 waits: only index 1 is applied

    core.step(heartbeat('a', 'b', 1, 2));
    processor.begin(core.ready());
    expect(ports.events.slice(2)).toEqual(['send heartbeat-resp', 'apply 2', 'applied 2 y', 'read 5 served at 2', 'finished']);
  });

  it('begins the next Ready while a write is in flight; it finishes only after the earlier one', () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x')], 0));
    processor.begin(core.ready());
    core.step(appendReq('a', 'b', 1, 1, 1, [entry(2, 1, 'y')], 1));
    expect(processor.canBegin()).toBe(true);
    processor.begin(core.ready());
    expect(processor.canBegin()).toBe(false); // two in flight, the limit this processor was given
    expect(ports.events).toEqual(['soft follower a', 'persist 1 entries, hard state 0', 'persist 1 entries, hard state 1']);
    expect(() => processor.begin(core.ready())).toThrow(/in flight/);

    ports.finishWrite();
    // The first Ready's acknowledgement leaves; the second's waits for its own write, and so does the
    // apply of entry 1 it handed out (entry 1 is durable, but finishing in order keeps acks first).
    expect(ports.events.slice(3)).toEqual(['send append-resp', 'finished']);
    expect(core.log.stable).toBe(1);
    expect(processor.applied).toBe(0);

    ports.finishWrite();
    expect(ports.events.slice(5)).toEqual(['send append-resp', 'apply 1', 'applied 1 x', 'finished']);
    expect(core.log.stable).toBe(2);
    expect(processor.busy).toBe(false);
  });

  it('a Ready without a write still finishes after the Ready before it', () => {
    const { core, ports, processor } = follower();
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x')], 0));
    processor.begin(core.ready());
    core.step(heartbeat('a', 'b', 1, 0));
    processor.begin(core.ready()); // its heartbeat answer promises nothing durable, yet goes in order
    expect(ports.events).toEqual(['soft follower a', 'persist 1 entries, hard state 0']);
    ports.finishWrite();
    expect(ports.events.slice(2)).toEqual(['send append-resp', 'finished', 'send heartbeat-resp', 'finished']);
  });

  it('hands no later write to storage before a snapshot install is durable', () => {
    const { core, ports, processor } = follower();
    const meta = { index: 5, term: 1, conf: { voters: ['a', 'b'], learners: [], addresses: {} }, size: 3 };
    core.step({ type: 'snapshot', from: 'a', to: 'b', term: 1, meta, offset: 0, data: new Uint8Array([1, 2, 3]), length: 3, done: true });
    const rd = core.ready();
    expect(rd.snapshot?.index).toBe(5);
    processor.begin(rd);
    core.step(appendReq('a', 'b', 1, 5, 1, [entry(6, 1, 'z')], 6));
    processor.begin(core.ready());
    expect(ports.events).toEqual(['soft follower a', 'chunks', 'persist snapshot 5, 0 entries, hard state 5']);

    ports.finishWrite();
    expect(ports.events.slice(3)).toEqual(['persist 1 entries, hard state 6', 'send snapshot-resp', 'restore 5', 'finished']);
    ports.finishWrite();
    expect(ports.events.slice(7)).toEqual(['send append-resp', 'apply 6', 'applied 6 z', 'finished']);
    expect(processor.applied).toBe(6);
  });

  it('reports a port that throws while finishing through fail, and finishes nothing after it', () => {
    const core = newCore('b', ['a', 'b']);
    const ports = recordingPorts();
    const failures: string[] = [];
    ports.apply = () => {
      throw new Error('disk on fire');
    };
    ports.fail = (err) => {
      failures.push(err.message);
    };
    const processor = new ReadyProcessor(core, ports, { hardState: { term: 0, vote: null, commit: 0 }, applied: 0 }, 2);
    core.step(appendReq('a', 'b', 1, 0, 0, [entry(1, 1, 'x')], 1));
    processor.begin(core.ready());
    core.step(heartbeat('a', 'b', 1, 1));
    processor.begin(core.ready());
    ports.finishWrite();
    expect(failures).toEqual(['disk on fire']);
    expect(processor.busy).toBe(true);
    expect(ports.events.filter((e) => e === 'finished')).toEqual([]);
  });
});
