import * as http from 'node:http';
import { EntryType, HeartbeatRequest, Message } from '../../src/core/types';
import { encodeMessages } from '../../src/transport/codec';
import { PEER_STREAM_PATH } from '../../src/transport/peer-endpoints';
import { cleanups, commits, freePort, hb, SECRET, setup, sleep, stallWrites, startPeer, tick, transport, waitFor } from './loopback';

function append(i: number, size: number): Message {
  return { type: 'append', from: 'a', to: 'b', term: 2, prevIndex: i, prevTerm: 2, commit: 0, entries: [{ index: i + 1, term: 2, type: EntryType.Normal, data: Buffer.alloc(size, i) }] };
}
const prevIndexes = (ms: Message[]): number[] => ms.map((m) => (m.type === 'append' ? m.prevIndex : -1));

describe('HttpTransport: batching and order', () => {
  it('delivers messages in order, batching sends made in the same turn into one frame', async () => {
    const { b, t, spy } = await setup();
    for (let i = 0; i < 1000; i++) t.send([hb('a', 'b', i)]);
    await waitFor(() => b.received.length === 1000, '1000 messages');
    await waitFor(() => spy.statuses.length === 1, 'status change'); // the 102 may reach the sender after the frame was delivered
    expect(commits(b.received)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(b.batches).toHaveLength(1);
    expect(b.froms.every((f) => f === 'a')).toBe(true);
    expect(spy.statuses).toEqual([['b', true]]);
    const st = t.peerStatus();
    expect(Object.keys(st)).toEqual(['b']); // own id ignored
    expect(st.b).toMatchObject({ reachable: true, frames: 1, requests: 1 });
    expect(st.b.lastSuccessMs).not.toBeNull();
  });

  it('1000 messages sent over many turns arrive in order over one stream', async () => {
    const { b, t, spy } = await setup();
    for (let i = 0; i < 1000; i++) {
      t.send([hb('a', 'b', i)]);
      if (i % 100 === 0) await sleep(1);
    }
    await waitFor(() => b.received.length === 1000, '1000 messages');
    expect(commits(b.received)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
    expect(spy.statuses).toEqual([['b', true]]);
    expect(t.peerStatus().b).toMatchObject({ reachable: true, requests: 1 });
  });

  it('counts writes: N batches -> N frames, one req.write each, on one request', async () => {
    const { b, t } = await setup();
    const writes = jest.spyOn(http.ClientRequest.prototype, 'write');
    const N = 25;
    for (let i = 0; i < N; i++) {
      t.send([hb('a', 'b', 2 * i), hb('a', 'b', 2 * i + 1)]); // one batch per turn
      await waitFor(() => b.received.length === 2 * i + 2, `batch ${i}`);
    }
    expect(writes).toHaveBeenCalledTimes(N);
    expect(b.batches).toHaveLength(N);
    expect(b.requests).toHaveLength(1);
    expect(t.peerStatus().b).toMatchObject({ frames: N, requests: 1 });
  });

  it('keeps one frame write in flight per peer; what is queued meanwhile leaves as one frame', async () => {
    const { b, t } = await setup();
    const writes = stallWrites();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => writes.stalled() === 1, 'first frame written');
    for (let i = 1; i < 1000; i++) {
      t.send([hb('a', 'b', i)]);
      if (i % 10 === 0) await tick(); // spread over many event-loop turns
    }
    expect(t.peerStatus().b).toMatchObject({ queued: 999, frames: 1 });
    writes.release();
    await waitFor(() => b.received.length === 1000, '1000 messages');
    expect(b.batches.map((batch) => batch.length)).toEqual([1, 999]);
    expect(commits(b.received)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('bounds the queue in bytes too (oldest dropped)', async () => {
    const { b, t } = await setup({}, { maxBatchBytes: 8192 }); // queue limit: 4 x 8 KiB
    const writes = stallWrites();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => writes.stalled() === 1, 'first frame written');
    t.send(Array.from({ length: 100 }, (_, i) => append(i, 1000)));
    const st = t.peerStatus().b;
    expect(st.queued).toBeLessThan(33);
    expect(st.queued).toBeGreaterThan(20);
    expect(st.dropped).toBe(100 - st.queued);
    writes.release();
    await waitFor(() => b.received.length === 1 + st.queued, 'the kept messages');
    expect(prevIndexes(b.received.slice(1))).toEqual(Array.from({ length: st.queued }, (_, i) => 100 - st.queued + i));
  });

  it('never sends a frame over maxBatchBytes, except a single larger message', async () => {
    const { b, t } = await setup({}, { maxBatchBytes: 8192, maxQueueBytes: 1 << 20 });
    const msgs = Array.from({ length: 50 }, (_, i) => append(i, 1000));
    msgs.push(append(50, 20_000));
    t.send(msgs);
    await waitFor(() => b.received.length === 51, '51 appends');
    expect(prevIndexes(b.received)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    const sizes = b.batches.map((batch) => encodeMessages(batch).length);
    expect(sizes.length).toBeGreaterThanOrEqual(8);
    expect(sizes.slice(0, -1).every((n) => n <= 8192)).toBe(true);
    expect(sizes[sizes.length - 1]).toBeGreaterThan(20_000);
    expect(t.peerStatus().b.frames).toBe(b.batches.length);
  });
});

describe('HttpTransport: failures', () => {
  it('peer down: reported unreachable once, queue bounded, recovers when the peer comes back', async () => {
    const port = await freePort();
    const { t, spy } = transport({ retryDelayMs: 2, maxRetryDelayMs: 10, maxQueueMessages: 50 });
    cleanups.push(() => t.close());
    t.setPeers({ b: `http://127.0.0.1:${port}` });
    const failures = (): number => spy.debug.filter((m) => m.includes('request to b failed')).length;
    for (let i = 0; i < 4; i++) {
      const before = failures();
      t.send([hb('a', 'b', i)]);
      await waitFor(() => failures() > before, `failure ${i + 1}`);
    }
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn.filter((m) => m.includes('unreachable'))).toHaveLength(1);
    expect(spy.warn[0]).toMatch(/peer b .* unreachable: ECONNREFUSED/);
    expect(t.peerStatus().b).toMatchObject({ reachable: false, lastSuccessMs: null });

    // A burst while the peer is down: only the newest 50 are kept.
    t.send(Array.from({ length: 500 }, (_, i) => hb('a', 'b', 100 + i)));
    expect(t.peerStatus().b.queued).toBe(50);
    expect(t.peerStatus().b.dropped).toBeGreaterThanOrEqual(450);

    const b = await startPeer({ port });
    cleanups.push(() => b.close());
    t.send([hb('a', 'b', 9999)]);
    await waitFor(() => b.received.some((m) => (m as HeartbeatRequest).commit === 9999), 'the marker after recovery');
    await waitFor(() => spy.statuses.length === 2, 'status change');
    expect(spy.statuses).toEqual([
      ['b', false],
      ['b', true],
    ]);
    expect(spy.warn.filter((m) => m.includes('reachable again'))).toHaveLength(1);
    const got = commits(b.received);
    // whatever survived the outage is among the newest 50 of the burst, in order, before the marker
    expect(got[got.length - 1]).toBe(9999);
    expect(got.slice(0, -1).every((c) => c >= 550 && c < 600)).toBe(true);
    expect(got.slice(0, -1)).toEqual([...got.slice(0, -1)].sort((x, y) => x - y));
    expect(t.peerStatus().b.reachable).toBe(true);
  });

  it('peer restart: unreachable, reconnects with backoff, delivery resumes on a new stream', async () => {
    const { b, t, spy } = await setup({}, { retryDelayMs: 5, maxRetryDelayMs: 20 });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'first delivery');
    const port = b.port;
    await b.close();
    for (let i = 0; i < 5 && !spy.statuses.some(([, ok]) => !ok); i++) {
      t.send([hb('a', 'b', 100 + i)]);
      await sleep(20);
    }
    await waitFor(() => spy.statuses.length === 2, 'unreachable');
    const b2 = await startPeer({ port });
    cleanups.push(() => b2.close());
    let n = 1000;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 5);
    cleanups.push(() => clearInterval(timer));
    await waitFor(() => b2.received.length >= 5, 'delivery after the restart');
    expect(spy.statuses).toEqual([
      ['b', true],
      ['b', false],
      ['b', true],
    ]);
    const got = commits(b2.received).filter((c) => c >= 1000);
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(b2.requests.every((r) => r === PEER_STREAM_PATH)).toBe(true);
  });

  it('times out a frame write that does not complete, drops its messages and marks the peer unreachable', async () => {
    const { t, spy } = await setup({}, { requestTimeoutMs: 100 });
    const writes = stallWrites();
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => spy.statuses.some(([, ok]) => !ok), 'unreachable');
    expect(spy.warn.join('\n')).toMatch(/frame write timeout after 100 ms/);
    expect(t.peerStatus().b.dropped).toBe(1);
    writes.release();
  });

  it('wrong secret: 401, peer unreachable, nothing delivered, no secret in logs', async () => {
    const { b, t, spy } = await setup({ secret: 'the-other-secret' });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => spy.statuses.length === 1, 'status change');
    expect(spy.statuses).toEqual([['b', false]]);
    expect(spy.warn[0]).toMatch(/HTTP 401 unauthorized .*cluster secret/);
    expect(b.received).toEqual([]);
    for (const line of [...spy.warn, ...spy.debug, ...b.logs]) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain('the-other-secret');
    }
  });

  it('a frame over the receiver maxBodyBytes: 413, the peer is reported unreachable', async () => {
    const { b, t, spy } = await setup({ maxBodyBytes: 1000 }, { retryDelayMs: 1000 });
    t.send([append(0, 2000)]);
    await waitFor(() => spy.statuses.some(([, ok]) => !ok), 'unreachable');
    expect(spy.warn.join('\n')).toMatch(/HTTP 413 payload_too_large/);
    expect(b.received).toEqual([]);
  });
});

describe('HttpTransport: setup and lifecycle', () => {
  it('insecure mode on both ends works', async () => {
    const { b, t } = await setup({ secret: null }, { secret: null });
    t.send([hb('a', 'b', 1), hb('a', 'b', 2)]);
    await waitFor(() => b.received.length === 2, 'delivery');
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
  });

  it('drops a removed peer queue; skips unknown peers; never throws; ignores sends after close', async () => {
    const { b, t } = await setup();
    const writes = stallWrites();
    t.send([hb('a', 'b', 0)]);
    await waitFor(() => writes.stalled() === 1, 'first frame written');
    t.send(Array.from({ length: 10 }, (_, i) => hb('a', 'b', 1 + i)));
    t.setPeers({});
    expect(t.peerStatus()).toEqual({});
    writes.release();
    t.setPeers({ b: b.url });
    t.send([hb('a', 'b', 500)]);
    await waitFor(() => b.received.some((m) => (m as HeartbeatRequest).commit === 500), 'marker');
    expect(commits(b.received).filter((c) => c >= 1 && c <= 10)).toEqual([]);

    expect(() => t.send([hb('a', 'nobody', 1), null as unknown as Message, { type: 'bogus', to: 'b' } as unknown as Message])).not.toThrow();
    expect(() => t.send(undefined as unknown as Message[])).not.toThrow();
    expect(() => t.setPeers({ c: 'not a url', d: 'ftp://x' })).not.toThrow();
    await t.close();
    const n = b.requests.length;
    t.send([hb('a', 'b', 1)]);
    await tick();
    await tick();
    expect(b.requests.length).toBe(n);
  });

  it('close() ends the stream; later sends are ignored', async () => {
    const { b, t } = await setup();
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'delivery');
    await t.close();
    t.send([hb('a', 'b', 2)]);
    await sleep(20);
    expect(b.received).toHaveLength(1);
  });
});
