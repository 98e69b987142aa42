import { streamStartAfter } from '../src/stream-messages/stream-cursor';
import { SseSubscriber } from '../src/stream-messages/sse-subscriber';
import { FakeSink, message, newLog } from './support';

const limits = { bufferBytes: 4096, batchMessages: 16 };

function parseEvents(text: string): { id: number; data: { commit_index: number } }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: message'))
    .map((block) => {
      const id = Number(/^id: (\d+)$/m.exec(block)![1]);
      return { id, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) as { commit_index: number } };
    });
}

describe('where a stream starts (Last-Event-ID and ?from)', () => {
  it('Last-Event-ID L sends commit_index > L; from=N sends >= N; the header wins', () => {
    expect(streamStartAfter({}, undefined)).toBe(0);
    expect(streamStartAfter({}, '41')).toBe(41);
    expect(streamStartAfter({ from: '10' }, undefined)).toBe(9);
    expect(streamStartAfter({ from: '0' }, undefined)).toBe(0);
    expect(streamStartAfter({ from: '10' }, '41')).toBe(41);
    expect(streamStartAfter({ from: '10' }, '')).toBe(9);
  });

  it('refuses a Last-Event-ID or from that is not an index', () => {
    expect(() => streamStartAfter({}, 'abc')).toThrow(/Last-Event-ID/);
    expect(() => streamStartAfter({ from: '-3' }, undefined)).toThrow(/from/);
  });
});

describe('SseSubscriber', () => {
  it('sends the retained messages after its start, then new ones, as id/event/data events', () => {
    const log = newLog();
    for (let i = 1; i <= 5; i++) log.append(message(i * 2));
    const sink = new FakeSink();
    const s = new SseSubscriber(sink, log, 4, limits);
    s.start();
    expect(sink.text.startsWith('retry: ')).toBe(true);
    expect(sink.ids).toEqual([6, 8, 10]);
    log.append(message(11));
    s.pump();
    const events = parseEvents(sink.text);
    expect(events.map((e) => e.id)).toEqual([6, 8, 10, 11]);
    expect(events.every((e) => e.id === e.data.commit_index)).toBe(true);
    expect(sink.text).toContain('event: message\ndata: {"msg_id":"m11"');
  });

  it('resuming from the last id a client saw gives exactly the rest', () => {
    const log = newLog();
    for (let i = 1; i <= 50; i++) log.append(message(i));
    const first = new FakeSink();
    new SseSubscriber(first, log, 0, { bufferBytes: 1 << 20, batchMessages: 7 }).start();
    const seen = first.ids.slice(0, 23);
    const rest = new FakeSink();
    new SseSubscriber(rest, log, streamStartAfter({ from: '1' }, String(seen[seen.length - 1])), limits).start();
    expect([...seen, ...rest.ids]).toEqual(first.ids);
    expect(first.ids).toHaveLength(50);
  });

  it('stops writing while the socket buffer is over the bound and goes on when it drains', () => {
    const log = newLog();
    for (let i = 1; i <= 200; i++) log.append(message(i, { payload: 'x'.repeat(100) }));
    const sink = new FakeSink();
    const s = new SseSubscriber(sink, log, 0, limits);
    s.start();
    const firstBurst = sink.ids.length;
    expect(firstBurst).toBeGreaterThan(0);
    expect(firstBurst).toBeLessThan(200);
    expect(sink.writableLength).toBeLessThan(limits.bufferBytes + 16 * 300);
    s.pump();
    expect(sink.ids.length).toBe(firstBurst);
    while (sink.ids.length < 200) {
      const before = sink.ids.length;
      sink.drain();
      expect(sink.ids.length).toBeGreaterThan(before);
    }
    expect(sink.ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('pings on heartbeat, and disconnects a client that has not drained for a whole interval', () => {
    const log = newLog();
    const sink = new FakeSink();
    const closed: string[] = [];
    const s = new SseSubscriber(sink, log, 0, limits, (_s, reason) => closed.push(reason));
    s.start();
    s.heartbeat();
    expect(sink.text).toContain(': ping\n\n');
    for (let i = 1; i <= 100; i++) log.append(message(i, { payload: 'x'.repeat(100) }));
    s.pump();
    s.heartbeat();
    expect(sink.destroyed).toBe(false);
    s.heartbeat();
    expect(sink.destroyed).toBe(true);
    expect(closed).toEqual(['stalled']);
  });

  it('disconnects a client that fell behind the retention bound', () => {
    const log = newLog({ maxMessages: 10 });
    for (let i = 1; i <= 10; i++) log.append(message(i, { payload: 'x'.repeat(1000) }));
    const sink = new FakeSink();
    const s = new SseSubscriber(sink, log, 0, { bufferBytes: 2048, batchMessages: 2 });
    s.start();
    const sent = s.position;
    expect(sent).toBeLessThan(10);
    for (let i = 11; i <= 30; i++) log.append(message(i));
    sink.drain();
    expect(s.closeReason).toBe('lagged');
    expect(sink.destroyed).toBe(true);
  });

  it('tells a client that asks for evicted messages, then sends what is retained', () => {
    const log = newLog({ maxMessages: 3 });
    for (let i = 1; i <= 8; i++) log.append(message(i));
    const sink = new FakeSink();
    new SseSubscriber(sink, log, 2, limits).start();
    expect(sink.text).toContain('event: truncated\ndata: {"evicted_through":5}');
    expect(sink.ids).toEqual([6, 7, 8]);
  });

  it('reads on from its position after the log is replaced by a snapshot', () => {
    const leader = newLog();
    const follower = newLog();
    for (let i = 1; i <= 4; i++) {
      leader.append(message(i));
      follower.append(message(i));
    }
    const sink = new FakeSink();
    const s = new SseSubscriber(sink, follower, 0, limits);
    s.start();
    for (let i = 5; i <= 9; i++) leader.append(message(i));
    follower.restore(JSON.parse(JSON.stringify(leader.snapshot())));
    s.pump();
    follower.append(message(10));
    s.pump();
    expect(sink.ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('writes nothing once closed', () => {
    const log = newLog();
    const sink = new FakeSink();
    const s = new SseSubscriber(sink, log, 0, limits);
    s.start();
    s.close('client');
    const before = sink.chunks.length;
    log.append(message(1));
    s.pump();
    s.heartbeat();
    expect(sink.chunks.length).toBe(before);
  });
});
