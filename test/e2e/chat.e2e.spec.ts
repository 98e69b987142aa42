import * as http from 'node:http';
import { HttpResult, ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * The chat app (apps/chat) as three real node processes: messages posted to any node are streamed
 * by every node in the same order, a repeated msg_id is stored once, and a stream resumed with
 * Last-Event-ID gives exactly the rest. Streams are read with node:http, as a client would.
 */
jest.setTimeout(120_000);

const ENTRY = 'apps/chat/src/main.ts';
const SECRET = 'chat-e2e-secret-not-for-production';
/** Membership routes take the cluster secret as admin token when ADMIN_TOKEN is unset. */
const ADMIN = { authorization: `Bearer ${SECRET}` };
const NODES = ['node1', 'node2', 'node3'];

interface Message {
  msg_id: string;
  conv_id: string;
  sender: string;
  payload: string;
  vector_clock: Record<string, number>;
  commit_index: number;
  ts: number;
}

interface StreamEvent {
  id: number;
  message: Message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Posts a message to `id`, retrying (as a client would) while the cluster answers 503 / 409 or the
 * request times out: safe, since the msg_id makes a repeat a no-op.
 */
async function postMessage(cluster: ProcessCluster, id: string, body: Record<string, unknown>, deadlineMs = 20_000): Promise<HttpResult> {
  const deadline = Date.now() + deadlineMs;
  let last = '';
  for (;;) {
    try {
      const r = await request(`${cluster.url(id)}/api/v1/message`, { method: 'POST', body, timeoutMs: 10_000 });
      if (r.status !== 503 && r.status !== 409) return r;
      last = `${r.status} ${r.body}`;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`POST /api/v1/message on ${id} did not succeed within ${deadlineMs} ms (last: ${last})`);
    await sleep(50);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function inPool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Reads `GET /api/v1/stream` of a node until `done(events)` holds, then disconnects. Fails on a
 * non-200 answer, a malformed event, or when `done` does not hold within `timeoutMs`.
 */
function readStream(baseUrl: string, opts: { lastEventId?: number; from?: number; done: (events: StreamEvent[]) => boolean; timeoutMs?: number }): Promise<StreamEvent[]> {
  return new Promise((resolve, reject) => {
    const events: StreamEvent[] = [];
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err === null) resolve(events);
      else reject(err);
    };
    const query = opts.from !== undefined ? `?from=${opts.from}` : '';
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
    const req = http.get(`${baseUrl}/api/v1/stream${query}`, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return finish(new Error(`${baseUrl} stream answered ${res.statusCode}`));
      if (!String(res.headers['content-type']).startsWith('text/event-stream')) return finish(new Error(`content-type ${res.headers['content-type']}`));
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
          }
          if (fields.get('event') !== 'message') continue;
          const message = JSON.parse(fields.get('data') ?? 'null') as Message;
          const id = Number(fields.get('id'));
          if (id !== message.commit_index) return finish(new Error(`event id ${id} is not the commit_index ${message.commit_index}`));
          events.push({ id, message });
        }
        if (opts.done(events)) finish(null);
      });
      res.on('end', () => finish(new Error(`${baseUrl} ended the stream after ${events.length} events`)));
    });
    req.on('error', (err) => finish(err));
    const timer = setTimeout(() => finish(new Error(`${baseUrl} stream: condition not met within ${opts.timeoutMs ?? 30_000} ms; got ${events.length} events`)), opts.timeoutMs ?? 30_000);
    if (opts.done(events)) finish(null);
  });
}

const hasAll = (ids: string[]) => (events: StreamEvent[]): boolean => {
  const seen = new Set(events.map((e) => e.message.msg_id));
  return ids.every((id) => seen.has(id));
};

const summary = (events: StreamEvent[]): string[] => events.map((e) => `${e.id}:${e.message.msg_id}`);

describe('the chat app on a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;
  /** Stream position after the first test's messages. */
  let afterSix = 0;
  const bulk = Array.from({ length: 1000 }, (_, i) => `bulk-${i}`);
  const stored = new Map<string, Message>();

  beforeAll(async () => {
    // A low threshold so that a node restarted behind the others catches up through a snapshot.
    cluster = await ProcessCluster.create({ size: 3, entry: ENTRY, secret: SECRET, env: { COMPACTION_THRESHOLD: '200' } });
    cluster.startAll();
    try {
      await cluster.waitForLeader(40_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- node1 output (tail) ---\n${cluster.output('node1').slice(-4000)}`);
    }
  });

  afterAll(async () => {
    await cluster?.stopAll();
  });

  it('streams six messages posted round-robin to the three nodes identically on every node', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const msgId = `hello-${i}`;
      const r = await postMessage(cluster, NODES[i % 3], { conv_id: 'general', sender: `user${i % 3}`, payload: `message ${i}`, vector_clock: { [`user${i % 3}`]: i }, msg_id: msgId });
      expect(r.status).toBe(201);
      const m = r.json<Message>();
      expect(m).toMatchObject({ msg_id: msgId, conv_id: 'general', sender: `user${i % 3}`, payload: `message ${i}`, vector_clock: { [`user${i % 3}`]: i } });
      expect(Number.isInteger(m.commit_index) && m.commit_index > 0).toBe(true);
      expect(typeof m.ts).toBe('number');
      ids.push(msgId);
    }
    const streams = await Promise.all(NODES.map((id) => readStream(cluster.url(id), { done: hasAll(ids) })));
    for (const s of streams) expect(summary(s)).toEqual(summary(streams[0]));
    // Posted one after the other, so the log holds them in that order.
    expect(streams[0].map((e) => e.message.msg_id)).toEqual(ids);
    const commits = streams[0].map((e) => e.id);
    expect([...commits].sort((a, b) => a - b)).toEqual(commits);
    afterSix = commits[commits.length - 1];
  });

  it('refuses a bad field with a 400 naming it, without touching the log', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const follower = NODES.find((id) => id !== leaderId)!;
    const before = (await cluster.status(leaderId)).lastLogIndex;
    const cases: [string, Record<string, unknown>][] = [
      ['sender', { conv_id: 'general', sender: '', payload: 'x' }],
      ['payload', { conv_id: 'general', sender: 'a', payload: 'x'.repeat(64 * 1024 + 1) }],
      ['vector_clock', { conv_id: 'general', sender: 'a', payload: 'x', vector_clock: { a: -1 } }],
      ['msg_id', { conv_id: 'general', sender: 'a', payload: 'x', msg_id: 'no spaces allowed' }],
    ];
    for (const [field, body] of cases) {
      const r = await request(`${cluster.url(follower)}/api/v1/message`, { method: 'POST', body });
      expect(r.status).toBe(400);
      expect(r.json()).toMatchObject({ error: 'bad_request', field });
    }
    expect((await cluster.status(leaderId)).lastLogIndex).toBe(before);
  });

  it('streams 1,000 messages posted concurrently to all nodes in one order everywhere, each once', async () => {
    const answers = await inPool(bulk, 32, (msgId, i) =>
      postMessage(cluster, NODES[i % 3], { conv_id: 'general', sender: `user${i % 7}`, payload: `bulk message ${i}`, msg_id: msgId }),
    );
    for (const [i, r] of answers.entries()) {
      // 200: a retry after a timeout found the first copy stored.
      expect([200, 201]).toContain(r.status);
      const m = r.json<Message>();
      expect(m.msg_id).toBe(bulk[i]);
      stored.set(m.msg_id, m);
    }
    const streams = await Promise.all(NODES.map((id) => readStream(cluster.url(id), { lastEventId: afterSix, done: (ev) => ev.length >= 1000, timeoutMs: 40_000 })));
    for (const s of streams) {
      expect(s).toHaveLength(1000);
      expect(summary(s)).toEqual(summary(streams[0]));
    }
    const ids = streams[0].map((e) => e.message.msg_id);
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual([...bulk].sort());
    // Every answer named the entry that stored it.
    for (const e of streams[0]) expect(e.message).toEqual(stored.get(e.message.msg_id));
    const commits = streams[0].map((e) => e.id);
    for (let i = 1; i < commits.length; i++) expect(commits[i]).toBeGreaterThan(commits[i - 1]);
  });

  it('stores a repeated msg_id once and answers the first message', async () => {
    const first = stored.get('bulk-17')!;
    const again = await postMessage(cluster, 'node2', { conv_id: 'general', sender: 'someone-else', payload: 'a different text', msg_id: 'bulk-17' });
    expect(again.status).toBe(200);
    expect(again.json()).toEqual(first);
    const marker = await postMessage(cluster, 'node3', { conv_id: 'general', sender: 'a', payload: 'after the repeat', msg_id: 'after-repeat' });
    expect(marker.status).toBe(201);
    const markerIndex = marker.json<Message>().commit_index;
    for (const id of NODES) {
      const tail = await readStream(cluster.url(id), { lastEventId: first.commit_index - 1, done: (ev) => ev.some((e) => e.id === markerIndex) });
      expect(tail.filter((e) => e.message.msg_id === 'bulk-17')).toEqual([{ id: first.commit_index, message: first }]);
      expect(tail[tail.length - 1].message.msg_id).toBe('after-repeat');
    }
  });

  it('resumes a stream with Last-Event-ID with exactly the rest, and /messages pages the same', async () => {
    const all = await readStream(cluster.url('node2'), { done: hasAll([...bulk, 'after-repeat']) });
    expect(all.length).toBe(6 + 1000 + 1);
    const cut = 437;
    const rest = await readStream(cluster.url('node3'), { lastEventId: all[cut].id, from: 1, done: (ev) => ev.some((e) => e.id === all[all.length - 1].id) });
    expect(summary(rest)).toEqual(summary(all.slice(cut + 1)));

    const paged: Message[] = [];
    let from = 0;
    for (;;) {
      const r = await request(`${cluster.url('node1')}/api/v1/messages?from=${from}&limit=300`);
      expect(r.status).toBe(200);
      const page = r.json<{ messages: Message[]; next_from: number }>();
      if (page.messages.length === 0) break;
      paged.push(...page.messages);
      from = page.next_from;
    }
    expect(paged).toEqual(all.map((e) => e.message));
  });

  it('a node restarted behind the others catches up through a snapshot and streams the same log', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const down = NODES.find((id) => id !== leaderId)!;
    const up = NODES.filter((id) => id !== down);
    await cluster.kill(down, 'SIGKILL');
    const late = Array.from({ length: 300 }, (_, i) => `late-${i}`);
    await inPool(late, 16, async (msgId, i) => expect((await postMessage(cluster, up[i % 2], { sender: 'b', payload: `late ${i}`, msg_id: msgId })).status).toBe(201));
    cluster.start(down);
    await waitFor(
      `${down} to catch up through a snapshot`,
      async () => {
        const [s, leader] = await Promise.all([cluster.status(down), cluster.status(leaderId)]);
        return s.snapshotIndex > 0 && s.lastApplied >= leader.commitIndex;
      },
      40_000,
    );
    const streams = await Promise.all(NODES.map((id) => readStream(cluster.url(id), { done: hasAll(late) })));
    expect(streams[0].length).toBe(6 + 1000 + 1 + 300);
    for (const st of streams) expect(summary(st)).toEqual(summary(streams[0]));
    for (const id of NODES) expect((await cluster.status(id)).stateDigest?.mismatches ?? 0).toBe(0);
  });

  it('a stream open on a survivor goes on through a leader failover, each message once, in the order of the others', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const survivors = NODES.filter((id) => id !== leaderId);
    const start = (await cluster.status(survivors[0])).lastApplied;
    const failover = Array.from({ length: 60 }, (_, i) => `failover-${i}`);
    const live = readStream(cluster.url(survivors[0]), { lastEventId: start, done: hasAll(failover), timeoutMs: 60_000 });
    live.catch(() => undefined); // awaited below; this only keeps an early failure from counting as unhandled
    const before = failover.slice(0, 20);
    const after = failover.slice(20);
    await inPool(before, 8, async (msgId, i) => expect((await postMessage(cluster, NODES[i % 3], { sender: 'c', payload: msgId, msg_id: msgId })).status).toBe(201));
    await cluster.kill(leaderId, 'SIGKILL');
    // Retries may find a message the old leader stored before it died: 200 with that first copy.
    await inPool(after, 8, async (msgId, i) => expect([200, 201]).toContain((await postMessage(cluster, survivors[i % 2], { sender: 'c', payload: msgId, msg_id: msgId }, 30_000)).status));
    const seen = await live;
    expect(seen.map((e) => e.message.msg_id).filter((id) => id.startsWith('failover-')).sort()).toEqual([...failover].sort());
    const other = await readStream(cluster.url(survivors[1]), { lastEventId: start, done: hasAll(failover) });
    expect(summary(other).slice(0, seen.length)).toEqual(summary(seen));
    cluster.start(leaderId);
    await waitFor(`${leaderId} to catch up`, async () => {
      const [s, o] = await Promise.all([cluster.status(leaderId), cluster.status(survivors[0])]);
      return s.lastApplied >= o.commitIndex && s.leaderId !== null;
    }, 40_000);
    const back = await readStream(cluster.url(leaderId), { lastEventId: start, done: hasAll(failover) });
    expect(summary(back).slice(0, seen.length)).toEqual(summary(seen));
  });

  it('answers 401 to /join, /leave and /nodes/:id without the admin token, on leader and follower, and changes nothing', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const follower = NODES.find((id) => id !== leaderId)!;
    const before = (await cluster.status(leaderId)).members.map((m) => m.id);
    for (const on of [leaderId, follower]) {
      for (const headers of [{}, { authorization: 'Bearer wrong-token-for-this-cluster' }] as Record<string, string>[]) {
        const answers = [
          await request(`${cluster.url(on)}/join`, { method: 'POST', headers, body: { ID: 'node9', RaftAddr: 'http://127.0.0.1:9' } }),
          await request(`${cluster.url(on)}/leave`, { method: 'POST', headers }),
          await request(`${cluster.url(on)}/nodes/${NODES.find((id) => id !== on)}`, { method: 'DELETE', headers }),
        ];
        expect(answers.map((a) => [a.status, a.json<{ error: string }>().error])).toEqual([
          [401, 'unauthorized'],
          [401, 'unauthorized'],
          [401, 'unauthorized'],
        ]);
      }
    }
    expect((await cluster.status(leaderId)).members.map((m) => m.id)).toEqual(before);
  });

  it('adds and removes members through /join and /nodes/:id on followers, and reports them in /status', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const [f1, f2] = NODES.filter((id) => id !== leaderId);
    const status = await request(`${cluster.url(f1)}/status`);
    expect(status.status).toBe(200);
    expect(status.json()).toMatchObject({ memberId: f1, leaderId, chat: { messages: 1367 } });

    const bad = await request(`${cluster.url(f1)}/join`, { method: 'POST', headers: ADMIN, body: { ID: 'node4', RaftAddr: 'not a url' } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', field: 'RaftAddr' });

    const node4 = await cluster.define('node4');
    const joined = await request(`${cluster.url(f1)}/join`, { method: 'POST', headers: ADMIN, body: { ID: 'node4', RaftAddr: node4.url }, timeoutMs: 10_000 });
    expect(joined.status).toBe(201);
    await waitFor('node4 in the configuration', async () => (await cluster.status(leaderId)).members.some((m) => m.id === 'node4'));
    const again = await request(`${cluster.url(f2)}/join`, { method: 'POST', headers: ADMIN, body: { ID: 'node4', RaftAddr: node4.url }, timeoutMs: 10_000 });
    expect(again.status).toBe(200);

    const removed = await request(`${cluster.url(f2)}/nodes/node4`, { method: 'DELETE', headers: ADMIN, timeoutMs: 10_000 });
    expect(removed.status).toBe(200);
    await waitFor('node4 gone', async () => !(await cluster.status(leaderId)).members.some((m) => m.id === 'node4'));
  });

  it('lets a node leave the cluster with POST /leave', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const leaving = NODES.find((id) => id !== leaderId)!;
    const r = await request(`${cluster.url(leaving)}/leave`, { method: 'POST', headers: ADMIN, timeoutMs: 10_000 });
    expect(r.status).toBe(200);
    await waitFor(`${leaving} gone`, async () => !(await cluster.status(leaderId)).members.some((m) => m.id === leaving));
    await cluster.kill(leaving);
    const stillWrites = await postMessage(cluster, leaderId, { conv_id: 'general', sender: 'a', payload: 'two nodes left', msg_id: 'after-leave' });
    expect(stillWrites.status).toBe(201);
  });
});
