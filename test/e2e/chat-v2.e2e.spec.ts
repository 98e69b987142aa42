import * as http from 'node:http';
import { HttpResult, ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * Chat API v2 (one Raft group per conversation group) on three real node processes: two groups,
 * each with its own log, leader and membership; a SIGKILL of one group's leader fails over that group
 * only; the restarted node catches up in both; join / remove change one group's configuration.
 */
jest.setTimeout(120_000);

const ENTRY = 'apps/chat/src/main.ts';
const SECRET = 'chat-v2-e2e-secret-not-for-production';
const ADMIN_TOKEN = 'chat-v2-e2e-admin-token';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const NODES = ['node1', 'node2', 'node3'];
const A = 'alpha';
const B = 'beta.team-2';

interface Message {
  msg_id: string;
  conv_id: string;
  sender: string;
  payload: string;
  vector_clock: Record<string, number>;
  commit_index: number;
  ts: number;
}

interface GroupStatus {
  group: string;
  memberId: string;
  role: string;
  isLeader: boolean;
  leaderId: string | null;
  leaderUrl: string | null;
  term: number;
  commitIndex: number;
  lastApplied: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: { id: string; url: string | null; voter: boolean }[];
  chat: { messages: number; last_index: number | null };
}

interface StreamEvent {
  id: number;
  message: Message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const groupUrl = (cluster: ProcessCluster, id: string, group: string, suffix: string): string => `${cluster.url(id)}/api/v2/groups/${encodeURIComponent(group)}${suffix}`;

/** Posts to a group on `id`, retrying on 503 / 409 / timeouts as a client would (msg_id makes a repeat a no-op). */
async function post(cluster: ProcessCluster, id: string, group: string, body: Record<string, unknown>, deadlineMs = 30_000): Promise<HttpResult> {
  const deadline = Date.now() + deadlineMs;
  let last = '';
  for (;;) {
    try {
      const r = await request(groupUrl(cluster, id, group, '/message'), { method: 'POST', body, timeoutMs: 15_000 });
      if (r.status !== 503 && r.status !== 409) return r;
      last = `${r.status} ${r.body}`;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`POST ${group}/message on ${id} did not succeed within ${deadlineMs} ms (last: ${last})`);
    await sleep(50);
  }
}

async function groupStatus(cluster: ProcessCluster, id: string, group: string): Promise<GroupStatus> {
  const r = await request(groupUrl(cluster, id, group, '/status'), { timeoutMs: 2000 });
  if (r.status !== 200) throw new Error(`${id} ${group}/status answered ${r.status} ${r.body}`);
  return r.json<GroupStatus>();
}

/** Waits until the running `among` agree on one leader of `group`. */
async function groupLeader(cluster: ProcessCluster, group: string, among: string[] = NODES.filter((id) => cluster.isRunning(id))): Promise<string> {
  return waitFor(
    `an agreed leader of ${group}`,
    async () => {
      const all = await Promise.all(among.map((id) => groupStatus(cluster, id, group)));
      const leaders = all.filter((s) => s.isLeader);
      if (leaders.length !== 1) return undefined;
      const { memberId, term } = leaders[0];
      return all.every((s) => s.leaderId === memberId && s.term === term) ? memberId : undefined;
    },
    30_000,
  );
}

/** Reads a group's stream on a node until `done(events)` holds. */
function readStream(url: string, opts: { lastEventId?: number; done: (events: StreamEvent[]) => boolean; timeoutMs?: number }): Promise<StreamEvent[]> {
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
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
    const req = http.get(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return finish(new Error(`${url} answered ${res.statusCode}`));
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
      res.on('end', () => finish(new Error(`${url} ended the stream after ${events.length} events`)));
    });
    req.on('error', (err) => finish(err));
    const timer = setTimeout(() => finish(new Error(`${url}: condition not met within ${opts.timeoutMs ?? 30_000} ms; got ${events.length} events`)), opts.timeoutMs ?? 30_000);
  });
}

const hasAll = (ids: string[]) => (events: StreamEvent[]): boolean => {
  const seen = new Set(events.map((e) => e.message.msg_id));
  return ids.every((id) => seen.has(id));
};

const summary = (events: StreamEvent[]): string[] => events.map((e) => `${e.id}:${e.message.msg_id}`);

/** Every running node streams `group` with all of `ids`, in one order; that order. */
async function sameStreamEverywhere(cluster: ProcessCluster, group: string, ids: string[], nodes = NODES): Promise<StreamEvent[]> {
  const streams = await Promise.all(nodes.map((id) => readStream(groupUrl(cluster, id, group, '/stream'), { done: hasAll(ids) })));
  for (const s of streams) expect(summary(s)).toEqual(summary(streams[0]));
  return streams[0];
}

describe('chat API v2: one Raft group per conversation group, on 3 real processes', () => {
  let cluster: ProcessCluster;
  const sentA: string[] = [];
  const sentB: string[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.create({ size: 3, entry: ENTRY, secret: SECRET, env: { ADMIN_TOKEN } });
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

  it('creates two groups on first post; round-robin messages stream in one order per group on every node', async () => {
    const unknown = await request(groupUrl(cluster, 'node1', A, '/stream'));
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'unknown_group' });
    const bad = await request(groupUrl(cluster, 'node1', 'no spaces', '/message'), { method: 'POST', body: { sender: 'a', payload: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', field: 'group' });

    for (let i = 0; i < 6; i++) {
      for (const [group, sent] of [[A, sentA], [B, sentB]] as const) {
        const msgId = `${group}-${i}`;
        const r = await post(cluster, NODES[i % 3], group, { sender: `user${i % 3}`, payload: `${group} message ${i}`, vector_clock: { [`user${i % 3}`]: i }, msg_id: msgId });
        expect(r.status).toBe(201);
        expect(r.json<Message>()).toMatchObject({ msg_id: msgId, conv_id: group, sender: `user${i % 3}`, vector_clock: { [`user${i % 3}`]: i } });
        sent.push(msgId);
      }
    }
    const a = await sameStreamEverywhere(cluster, A, sentA);
    const b = await sameStreamEverywhere(cluster, B, sentB);
    expect(a.map((e) => e.message.msg_id)).toEqual(sentA);
    expect(b.map((e) => e.message.msg_id)).toEqual(sentB);
    // Each group numbers its own log: both start low, whatever the other group or the main log hold.
    expect(a[0].id).toBeLessThan(10);
    expect(b[0].id).toBeLessThan(10);

    // A repeated msg_id is stored once, per group.
    const again = await post(cluster, 'node2', A, { sender: 'someone', payload: 'other text', msg_id: `${A}-3` });
    expect(again.status).toBe(200);
    expect(again.json()).toEqual(a[3].message);
    // The same msg_id in the other group is another message.
    const otherGroup = await post(cluster, 'node3', B, { sender: 'someone', payload: 'beta copy', msg_id: `${A}-3` });
    expect(otherGroup.status).toBe(201);
    sentB.push(`${A}-3`);

    const page = await request(`${groupUrl(cluster, 'node3', A, '/messages')}?from=0&limit=3&consistency=linearizable`);
    expect(page.status).toBe(200);
    expect(page.json<{ messages: Message[] }>().messages).toEqual(a.slice(0, 3).map((e) => e.message));
  });

  it('has a leader per group, independent commit indexes, and lets the groups have different leaders', async () => {
    const leaderA = await groupLeader(cluster, A);
    let leaderB = await groupLeader(cluster, B);
    for (const id of NODES) {
      const s = await groupStatus(cluster, id, A);
      expect(s).toMatchObject({ group: A, memberId: id, leaderId: leaderA });
      expect(s.leaderUrl).toBe(cluster.url(leaderA));
      expect(s.members.map((m) => m.id).sort()).toEqual(NODES);
    }
    if (leaderB === leaderA) {
      const to = NODES.find((id) => id !== leaderA)!;
      // Asked on a node that does not lead B: forwarded to B's leader. Retried while B's leader is in
      // flux (a 503 / 409 answer), as a client would.
      const via = NODES.find((id) => id !== leaderA && id !== to)!;
      leaderB = await waitFor('B led by another node than A', async () => {
        const r = await request(groupUrl(cluster, via, B, '/leadership-transfer'), { method: 'POST', headers: ADMIN, body: { to }, timeoutMs: 10_000 });
        if (r.status !== 200) throw new Error(`transfer answered ${r.status} ${r.body}`);
        expect(r.json()).toMatchObject({ group: B, leaderId: to });
        const now = await groupLeader(cluster, B);
        return now !== leaderA ? now : undefined;
      }, 30_000);
    }
    expect(leaderB).not.toBe(leaderA);

    // Writes to B leave A's messages alone, and number on from B's own last index.
    const before = await groupStatus(cluster, 'node1', A);
    const lastB = (await groupStatus(cluster, leaderB, B)).chat.last_index!;
    const extra: number[] = [];
    for (let i = 0; i < 5; i++) {
      const msgId = `${B}-extra-${i}`;
      const r = await post(cluster, NODES[i % 3], B, { sender: 'x', payload: msgId, msg_id: msgId });
      expect(r.status).toBe(201);
      extra.push(r.json<Message>().commit_index);
      sentB.push(msgId);
    }
    const afterA = await groupStatus(cluster, 'node1', A);
    expect(afterA.chat).toEqual(before.chat);
    expect(extra[0]).toBeGreaterThan(lastB);
    expect(extra[0]).toBeLessThan(lastB + 10);
  });

  it('SIGKILL of the node leading A: A elects another leader and takes writes, B goes on; the node restarted catches up in both', async () => {
    const leaderA = await groupLeader(cluster, A);
    const survivors = NODES.filter((id) => id !== leaderA);
    await cluster.kill(leaderA, 'SIGKILL');
    const newLeaderA = await groupLeader(cluster, A, survivors);
    expect(newLeaderA).not.toBe(leaderA);
    for (let i = 0; i < 6; i++) {
      const msgA = `${A}-failover-${i}`;
      const msgB = `${B}-failover-${i}`;
      expect([200, 201]).toContain((await post(cluster, survivors[i % 2], A, { sender: 'f', payload: msgA, msg_id: msgA })).status);
      expect([200, 201]).toContain((await post(cluster, survivors[(i + 1) % 2], B, { sender: 'f', payload: msgB, msg_id: msgB })).status);
      sentA.push(msgA);
      sentB.push(msgB);
    }
    await groupLeader(cluster, B, survivors);
    await sameStreamEverywhere(cluster, A, sentA, survivors);
    await sameStreamEverywhere(cluster, B, sentB, survivors);

    cluster.start(leaderA);
    await cluster.waitForLeader(30_000);
    const a = await sameStreamEverywhere(cluster, A, sentA);
    const b = await sameStreamEverywhere(cluster, B, sentB);
    expect(a.map((e) => e.message.msg_id)).toEqual(sentA);
    expect(b.map((e) => e.message.msg_id)).toEqual(sentB);
    await groupLeader(cluster, A);
    await groupLeader(cluster, B);
  });

  it('answers 401 to the v2 membership and transfer routes without ADMIN_TOKEN (the cluster secret is not it)', async () => {
    const via = NODES[0];
    for (const headers of [{}, { authorization: `Bearer ${SECRET}` }] as Record<string, string>[]) {
      const answers = [
        await request(groupUrl(cluster, via, B, '/join'), { method: 'POST', headers, body: { ID: 'node9', RaftAddr: 'http://127.0.0.1:9' } }),
        await request(groupUrl(cluster, via, B, `/nodes/${NODES[1]}`), { method: 'DELETE', headers }),
        await request(groupUrl(cluster, via, B, '/leadership-transfer'), { method: 'POST', headers, body: {} }),
      ];
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401]);
    }
  });

  it('removes a member from one group only and adds it back with /join', async () => {
    const leaderB = await groupLeader(cluster, B);
    const out = NODES.find((id) => id !== leaderB)!;
    const via = NODES.find((id) => id !== leaderB && id !== out)!;
    const removed = await request(groupUrl(cluster, via, B, `/nodes/${out}`), { method: 'DELETE', headers: ADMIN, timeoutMs: 15_000 });
    expect(removed.status).toBe(200);
    expect(removed.json()).toMatchObject({ group: B, id: out, removed: true });
    await waitFor(`${out} out of ${B}`, async () => !(await groupStatus(cluster, leaderB, B)).members.some((m) => m.id === out));
    // Still in A.
    expect((await groupStatus(cluster, leaderB, A)).members.map((m) => m.id).sort()).toEqual(NODES);

    const whileOut = ['while-out-1', 'while-out-2'];
    for (const msgId of whileOut) {
      expect((await post(cluster, via, B, { sender: 'r', payload: msgId, msg_id: msgId })).status).toBe(201);
      sentB.push(msgId);
    }

    const badJoin = await request(groupUrl(cluster, via, B, '/join'), { method: 'POST', headers: ADMIN, body: { ID: out, RaftAddr: 'not a url' } });
    expect(badJoin.status).toBe(400);
    const joined = await request(groupUrl(cluster, via, B, '/join'), { method: 'POST', headers: ADMIN, body: { ID: out, RaftAddr: cluster.url(out) }, timeoutMs: 15_000 });
    expect(joined.status).toBe(201);
    expect(joined.json()).toMatchObject({ group: B, id: out, added: true });
    await waitFor(`${out} a voter of ${B} again`, async () => (await groupStatus(cluster, leaderB, B)).members.some((m) => m.id === out && m.voter));
    const again = await request(groupUrl(cluster, via, B, '/join'), { method: 'POST', headers: ADMIN, body: { ID: out, RaftAddr: cluster.url(out) }, timeoutMs: 15_000 });
    expect(again.status).toBe(200);
    const b = await sameStreamEverywhere(cluster, B, sentB);
    expect(b.map((e) => e.message.msg_id)).toEqual(sentB);
  });

  it('keeps v1 on the main group working next to the groups', async () => {
    const r = await request(`${cluster.url('node2')}/api/v1/message`, { method: 'POST', body: { sender: 'v1', payload: 'still here', msg_id: 'v1-after-v2' }, timeoutMs: 10_000 });
    expect(r.status).toBe(201);
    expect(r.json()).toMatchObject({ conv_id: 'general', msg_id: 'v1-after-v2' });
  });
});
