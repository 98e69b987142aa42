import { ProposalLostError, RaftError, type Message } from '@raft-cqrs/raft';
import { encodeMessages, PEER_MESSAGES_PATH, signPeerRequest } from '@raft-cqrs/raft/transport';
import type { ClusterStatus, RaftClusterEvent } from '../src';
import { CapturingLogger, freePort, request, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(60_000);

const SECRET = 'test-cluster-secret-4f9a1c';
/** The admin credential: the cluster secret, since no adminToken is set. */
const ADMIN = { authorization: `Bearer ${SECRET}` };
const TIMING = { electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30 };

/**
 * Three (then four) Nest apps in this process, each with its own HTTP listener on a loopback port and
 * in-memory storage, talking to each other over real HTTP.
 */
describe('RaftClusterModule: a cluster of Nest apps over HTTP', () => {
  const logger = new CapturingLogger();
  const nodes = new Map<string, TestNode>();
  const urls = new Map<string, string>();
  let members: string[];

  const node = (id: string): TestNode => nodes.get(id)!;
  const status = async (id: string): Promise<ClusterStatus> => {
    const r = await request(`${urls.get(id)}/cluster/status`, { timeoutMs: 3000 });
    if (r.status !== 200) throw new Error(`${id} /cluster/status answered ${r.status}: ${r.text}`);
    return r.json<ClusterStatus>();
  };
  /** Waits until every running voter agrees on one leader and term; returns the leader's status. */
  const agreedLeader = async (ids = [...nodes.keys()], timeoutMs = 10_000): Promise<ClusterStatus> =>
    waitFor(
      `agreement on a leader among ${ids.join(', ')}`,
      async () => {
        const all = await Promise.all(ids.map(status));
        const leaders = all.filter((s) => s.isLeader);
        if (leaders.length !== 1) return null;
        const l = leaders[0];
        return all.every((s) => s.leaderId === l.memberId && s.term === l.term && s.leaderUrl === urls.get(l.memberId)) ? l : null;
      },
      timeoutMs,
    );

  beforeAll(async () => {
    for (const id of ['node1', 'node2', 'node3', 'node4']) urls.set(id, `http://127.0.0.1:${await freePort()}`);
    members = ['node1', 'node2', 'node3'].map((id) => `${id}=${urls.get(id)}`);
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.app.close().catch(() => undefined)));
  });

  it('is not ready before a leader is known, and ready once one is', async () => {
    const port = (id: string): number => Number(new URL(urls.get(id)!).port);
    nodes.set('node1', await startNode('node1', port('node1'), { members, secret: SECRET, ...TIMING }, logger));
    // Alone, node1 cannot win an election (it needs 2 of 3 votes): no leader can be known yet.
    const live = await request(`${urls.get('node1')}/health/live`);
    expect(live.status).toBe(200);
    const notReady = await request(`${urls.get('node1')}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(notReady.json()).toMatchObject({ status: 'unavailable', reason: expect.stringContaining('no leader') });
    expect((await status('node1')).leaderId).toBeNull();

    for (const id of ['node2', 'node3']) nodes.set(id, await startNode(id, port(id), { members, secret: SECRET, ...TIMING }, logger));
    await agreedLeader();
    for (const id of ['node1', 'node2', 'node3']) {
      await waitFor(`${id} ready`, async () => (await request(`${urls.get(id)}/health/ready`)).status === 200);
    }
    const ready = await request(`${urls.get('node1')}/health/ready`);
    expect(ready.json()).toMatchObject({ status: 'ok', leaderId: expect.any(String) });
  });

  it('elects exactly one leader, and every /cluster/status agrees on it and its term', async () => {
    const leader = await agreedLeader();
    const all = await Promise.all(['node1', 'node2', 'node3'].map(status));
    expect(all.filter((s) => s.isLeader)).toHaveLength(1);
    for (const s of all) {
      expect(Object.keys(s).sort()).toEqual(
        ['commitIndex', 'isLeader', 'lastApplied', 'lastLogIndex', 'leaderId', 'leaderUrl', 'memberId', 'members', 'role', 'snapshotIndex', 'stateDigest', 'term'].sort(),
      );
      expect(s.members.map((m) => m.id).sort()).toEqual(['node1', 'node2', 'node3']);
      for (const m of s.members) {
        expect(Object.keys(m).sort()).toEqual(['id', 'lastContactMs', 'matchIndex', 'reachable', 'url', 'voter']);
        expect(m.url).toBe(urls.get(m.id));
        expect(m.voter).toBe(true);
        if (s.isLeader) {
          expect(typeof m.matchIndex).toBe('number');
          expect(typeof m.lastContactMs).toBe('number');
        } else {
          expect(m.matchIndex).toBeNull();
          expect(m.lastContactMs).toBeNull();
        }
      }
      expect(s.role).toBe(s.isLeader ? 'leader' : 'follower');
    }
    // The leader hears from both followers, so it sees them as reachable.
    await waitFor('the leader to see every member reachable', async () => (await status(leader.memberId)).members.every((m) => m.reachable));
  });

  it('applies a proposal made on the leader on all three nodes', async () => {
    const leader = await agreedLeader();
    const svc = node(leader.memberId).cluster;
    expect(svc.isLeader).toBe(true);
    const { index, result } = await svc.propose(TestKv.put('greeting', 'hello'));
    expect(result).toEqual({ key: 'greeting', index });
    for (const id of ['node1', 'node2', 'node3']) {
      await waitFor(`greeting on ${id}`, () => node(id).kv.data.get('greeting') === 'hello');
    }
    // A follower refuses to propose (the service does not forward) and a read barrier works there.
    const follower = ['node1', 'node2', 'node3'].find((id) => id !== leader.memberId)!;
    await expect(node(follower).cluster.propose(TestKv.put('x', 'y'))).rejects.toMatchObject({ name: 'NotLeaderError', leaderId: leader.memberId });
    const barrier = await node(follower).cluster.readBarrier();
    expect(barrier).toBeGreaterThanOrEqual(index);
    expect(node(follower).kv.data.get('greeting')).toBe('hello');
  });

  it('forwards POST /cluster/members from a follower to the leader, and DELETE likewise', async () => {
    const leader = await agreedLeader();
    const follower = ['node1', 'node2', 'node3'].find((id) => id !== leader.memberId)!;
    const ghostUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there: it stays a learner
    const metricBefore = await forwardedCount(urls.get(follower)!);

    const bad = await request(`${urls.get(follower)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost', url: 'ftp://x' } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('"url"') });
    const noVoter = await request(`${urls.get(follower)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost', url: ghostUrl, voter: false } });
    expect(noVoter.status).toBe(400);
    expect(noVoter.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('"voter"') });

    const added = await request(`${urls.get(follower)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost', url: ghostUrl } });
    expect(added.status).toBe(201);
    expect(added.json()).toMatchObject({ id: 'ghost', url: ghostUrl, voter: false, added: true, index: expect.any(Number) });
    expect(await forwardedCount(urls.get(follower)!)).toBe(metricBefore + 1);
    const onLeader = await status(leader.memberId);
    expect(onLeader.members.find((m) => m.id === 'ghost')).toMatchObject({ voter: false, url: ghostUrl, reachable: false });

    // Idempotent: the same member again is a 200 that changes nothing.
    const again = await request(`${urls.get(follower)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost', url: ghostUrl } });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ added: false });
    const conflict = await request(`${urls.get(leader.memberId)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost', url: 'http://127.0.0.1:1' } });
    expect(conflict.status).toBe(409);
    expect(conflict.json()).toMatchObject({ error: 'member_conflict' });

    const removed = await request(`${urls.get(follower)}/cluster/members/ghost`, { method: 'DELETE', headers: ADMIN });
    expect(removed.status).toBe(200);
    expect(removed.json()).toMatchObject({ id: 'ghost', removed: true });
    await waitFor('ghost gone everywhere', async () => (await Promise.all(['node1', 'node2', 'node3'].map(status))).every((s) => !s.members.some((m) => m.id === 'ghost')));
    const unknown = await request(`${urls.get(follower)}/cluster/members/ghost`, { method: 'DELETE', headers: ADMIN });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'not_found' });
  });

  it('finishes a membership change lost to a leader change: at the new leader, or here when this node leads again', async () => {
    const leader = await agreedLeader();
    const other = ['node1', 'node2', 'node3'].find((id) => id !== leader.memberId)!;
    const raft = node(leader.memberId).cluster.raftNode!;
    const ghostUrl = `http://127.0.0.1:${await freePort()}`;

    // Leadership moves while the change is in flight and its entry is replaced.
    const lost = jest.spyOn(raft, 'changeMembership').mockImplementationOnce(async () => {
      raft.transferLeadership(other);
      await waitFor(`${other} leading`, () => node(other).cluster.isLeader);
      throw new ProposalLostError(1);
    });
    const added = await request(`${urls.get(leader.memberId)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost2', url: ghostUrl } });
    expect(added.status).toBe(201);
    expect(added.json()).toMatchObject({ id: 'ghost2', added: true, index: expect.any(Number) });
    expect((await status(other)).members.some((m) => m.id === 'ghost2')).toBe(true);
    lost.mockRestore();

    // The same on the new leader, which still leads once the change is lost: it retries the change itself.
    const newRaft = node(other).cluster.raftNode!;
    const lostOnce = jest.spyOn(newRaft, 'changeMembership').mockImplementationOnce(async () => {
      throw new ProposalLostError(1);
    });
    const removed = await request(`${urls.get(other)}/cluster/members/ghost2`, { method: 'DELETE', headers: ADMIN });
    expect(removed.status).toBe(200);
    expect(removed.json()).toMatchObject({ id: 'ghost2', removed: true, index: expect.any(Number) });
    expect(lostOnce).toHaveBeenCalledTimes(2);
    lostOnce.mockRestore();
    await waitFor('ghost2 gone everywhere', async () => (await Promise.all(['node1', 'node2', 'node3'].map(status))).every((s) => !s.members.some((m) => m.id === 'ghost2')));
  });

  it('answers a membership change refused during a leadership transfer with 503 transfer_in_progress, without retrying it', async () => {
    const leader = await agreedLeader();
    const raft = node(leader.memberId).cluster.raftNode!;
    const refused = jest.spyOn(raft, 'changeMembership').mockImplementation(() => Promise.reject(new RaftError('transfer_in_progress', 'a leadership transfer is in progress')));
    try {
      const r = await request(`${urls.get(leader.memberId)}/cluster/members`, { method: 'POST', headers: ADMIN, body: { id: 'ghost3', url: `http://127.0.0.1:${await freePort()}` } });
      expect(r.status).toBe(503);
      expect(r.json()).toMatchObject({ error: 'transfer_in_progress' });
      expect(r.headers['retry-after']).toBeDefined();
      expect(refused).toHaveBeenCalledTimes(1);
    } finally {
      refused.mockRestore();
    }
  });

  it('moves leadership with POST /cluster/leadership-transfer', async () => {
    const leader = await agreedLeader();
    const to = ['node1', 'node2', 'node3'].find((id) => id !== leader.memberId)!;
    const r = await request(`${urls.get(leader.memberId)}/cluster/leadership-transfer`, { method: 'POST', headers: ADMIN, body: { to } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ previousLeaderId: leader.memberId, leaderId: to, leaderUrl: urls.get(to), moved: true });
    const after = await agreedLeader();
    expect(after.memberId).toBe(to);
    expect(after.term).toBeGreaterThan(leader.term);

    const bad = await request(`${urls.get(to)}/cluster/leadership-transfer`, { method: 'POST', headers: ADMIN, body: { to: 'nobody' } });
    expect(bad.status).toBe(404);
    expect(bad.json()).toMatchObject({ error: 'not_found' });
    const badField = await request(`${urls.get(to)}/cluster/leadership-transfer`, { method: 'POST', headers: ADMIN, body: { to: 42 } });
    expect(badField.status).toBe(400);
    expect(badField.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('"to"') });
  });

  it('lets a 4th node join with `join`: it becomes a learner, then a voter, and gets the data', async () => {
    const events: RaftClusterEvent[] = [];
    const sub = node('node1').cluster.events$.subscribe((e) => events.push(e));
    try {
      const port = Number(new URL(urls.get('node4')!).port);
      nodes.set(
        'node4',
        await startNode('node4', port, { members: [], join: urls.get('node1'), advertiseUrl: urls.get('node4'), secret: SECRET, ...TIMING }, logger),
      );
      await waitFor('node4 to be promoted to voter', () => events.some((e) => e.type === 'member-promoted' && e.id === 'node4'), 15_000);
      const added = events.find((e) => e.type === 'member-added' && e.id === 'node4');
      expect(added).toEqual({ type: 'member-added', id: 'node4', url: urls.get('node4'), voter: false });
      expect(events.findIndex((e) => e === added)).toBeLessThan(events.findIndex((e) => e.type === 'member-promoted'));
    } finally {
      sub.unsubscribe();
    }
    const leader = await agreedLeader(['node1', 'node2', 'node3', 'node4']);
    expect(leader.members.find((m) => m.id === 'node4')).toMatchObject({ voter: true, url: urls.get('node4') });
    await waitFor('greeting on node4', () => node('node4').kv.data.get('greeting') === 'hello');
    const s4 = await status('node4');
    expect(s4.members.map((m) => m.id).sort()).toEqual(['node1', 'node2', 'node3', 'node4']);
    await waitFor('node4 ready', async () => (await request(`${urls.get('node4')}/health/ready`)).status === 200);
  });

  it('answers 401 to peer requests without or with a wrong secret, and changes nothing', async () => {
    const leader = await agreedLeader();
    const target = [...nodes.keys()].find((id) => id !== leader.memberId)!;
    const url = `${urls.get(target)}${PEER_MESSAGES_PATH}`;
    // Messages that would disturb the node if accepted: a vote at a much higher term, an append of a bogus entry.
    const bogus = (term: number): Message[] => [
      { type: 'vote', from: 'intruder', to: target, term, lastLogIndex: 1e6, lastLogTerm: term, transfer: true },
      { type: 'append', from: 'intruder', to: target, term, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    ];
    const compared = (s: ClusterStatus) => ({ term: s.term, leaderId: s.leaderId, lastLogIndex: s.lastLogIndex, commitIndex: s.commitIndex, role: s.role });

    for (let attempt = 1; ; attempt++) {
      const before = await status(target);
      const body = encodeMessages(bogus(before.term + 100));
      const unsigned = await request(url, { method: 'POST', raw: body });
      expect(unsigned.status).toBe(401);
      expect(unsigned.json()).toMatchObject({ error: 'unauthorized' });
      const wrong = await request(url, { method: 'POST', raw: body, headers: signPeerRequest('not-the-secret', 'POST', PEER_MESSAGES_PATH, body, Date.now()) });
      expect(wrong.status).toBe(401);
      // A correctly signed, empty batch is accepted: the 401s above are about the secret, not the request.
      const empty = encodeMessages([]);
      const good = await request(url, { method: 'POST', raw: empty, headers: signPeerRequest(SECRET, 'POST', PEER_MESSAGES_PATH, empty, Date.now()) });
      expect(good.status).toBe(204);
      await new Promise((r) => setTimeout(r, 100)); // give a (wrongly) accepted message time to show
      const after = await status(target);
      expect(after.term).toBeLessThan(before.term + 100);
      if (JSON.stringify(compared(after)) === JSON.stringify(compared(before)) || attempt === 3) {
        expect(compared(after)).toEqual(compared(before));
        break;
      }
      // An unrelated election happened meanwhile (loaded machine): try again.
    }
  });

  it('a node with the wrong secret cannot disturb the cluster', async () => {
    const leader = await agreedLeader();
    const roguePort = await freePort();
    const rogueUrl = `http://127.0.0.1:${roguePort}`;
    const rogue = await startNode(
      'rogue',
      roguePort,
      { members: [...members, `rogue=${rogueUrl}`], secret: 'a-different-secret-9d2e7b', ...TIMING },
      logger,
    );
    try {
      // It campaigns (it believes it is one of four voters); every request it makes is refused.
      await waitFor('the rogue node to be refused', () => logger.lines.some((l) => l.includes('[rogue ') && /HTTP 401/.test(l)), 10_000);
      const after = await agreedLeader();
      expect(after.memberId).toBe(leader.memberId);
      expect(after.members.some((m) => m.id === 'rogue')).toBe(false);
    } finally {
      await rogue.app.close();
    }
    expect(logger.lines.some((l) => l.includes('a-different-secret-9d2e7b'))).toBe(false);
  });

  it('refuses to start with bad options, naming the option (and never the secret)', async () => {
    const port = await freePort();
    await expect(startNode('node9', port, { members, secret: SECRET, electionTimeout: [300, 100] }, logger)).rejects.toThrow(
      'RaftClusterModule: option "electionTimeout" must be [min, max] in ms with 0 < min <= max, got [300, 100]',
    );
    const err = await startNode('node9', port, { members, secret: SECRET }, logger).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('option "memberId" ("node9") must be one of "members"');
    expect((err as Error).message).not.toContain(SECRET);
    const { secret: _s, ...noSecret } = { members, secret: SECRET };
    await expect(startNode('node9', port, noSecret, logger)).rejects.toThrow('option "secret" is required');
  });

  it('serves /metrics as Prometheus text from a registry of its own', async () => {
    const leader = await agreedLeader();
    const r = await request(`${urls.get(leader.memberId)}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? [-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf)$/;
    const comment = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;
    const lines = r.text.split('\n').filter((l) => l !== '');
    for (const line of lines) {
      if (!sample.test(line) && !comment.test(line)) throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
    for (const name of [
      'raft_term',
      'raft_role',
      'raft_commit_index',
      'raft_applied_index',
      'raft_leader_changes_total',
      'raft_elections_total',
      'raft_append_latency_seconds_bucket',
      'raft_fsync_latency_seconds_bucket',
      'raft_proposals_total',
      'raft_forwarded_requests_total',
      'raft_snapshots_total',
      'raft_snapshot_bytes',
    ]) {
      expect(lines.some((l) => l.startsWith(name))).toBe(true);
    }
    expect(lines).toContain(`raft_term ${leader.term}`);
    expect(lines).toContain('raft_role{role="leader"} 1');
    expect(lines).toContain('raft_role{role="follower"} 0');
    expect(r.text).toMatch(/raft_fsync_latency_seconds_count [1-9]/);
    // Each node has its own registry: the first leader's proposal shows up in its own metrics only.
    const proposals = await Promise.all([...nodes.keys()].map(async (id) => /raft_proposals_total\{result="ok"\} (\d+)/.exec((await request(`${urls.get(id)}/metrics`)).text)?.[1] ?? '0'));
    expect(proposals.filter((p) => p === '1')).toHaveLength(1);
  });

  it('removes the leader itself by handing leadership over first (DELETE through a follower)', async () => {
    const leader = await agreedLeader();
    expect(leader.members.filter((m) => m.voter)).toHaveLength(4);
    const follower = [...nodes.keys()].find((id) => id !== leader.memberId)!;
    const r = await request(`${urls.get(follower)}/cluster/members/${leader.memberId}`, { method: 'DELETE', headers: ADMIN });
    expect(r.status).toBe(200);
    const body = r.json<{ id: string; removed: boolean; handedOverTo: string }>();
    expect(body).toMatchObject({ id: leader.memberId, removed: true, handedOverTo: expect.any(String) });
    expect(body.handedOverTo).not.toBe(leader.memberId);
    const removed = node(leader.memberId);
    nodes.delete(leader.memberId);
    const next = await agreedLeader();
    expect(next.memberId).toBe(body.handedOverTo);
    await waitFor('the old leader gone from every configuration', async () =>
      (await Promise.all([...nodes.keys()].map(status))).every((s) => s.members.length === 3 && !s.members.some((m) => m.id === leader.memberId)),
    );
    await removed.app.close();
    // The three left still commit.
    const { index } = await node(next.memberId).cluster.propose(TestKv.put('after-removal', 'yes'));
    for (const id of nodes.keys()) await waitFor(`after-removal on ${id}`, () => node(id).kv.data.get('after-removal') === 'yes');
    expect(index).toBeGreaterThan(0);
  });

  it('hands leadership over when the leader app shuts down', async () => {
    const leader = await agreedLeader();
    const old = node(leader.memberId);
    nodes.delete(leader.memberId);
    await old.app.close();
    const next = await agreedLeader([...nodes.keys()], 10_000);
    expect(next.memberId).not.toBe(leader.memberId);
    expect(logger.lines.some((l) => l.includes(`[${leader.memberId} `) && /handing leadership over/.test(l))).toBe(true);
    expect(logger.lines.some((l) => l.includes(`[${leader.memberId} `) && /leadership moved to/.test(l))).toBe(true);
  });

  it('never logs the secret (start-up, failed peer requests, rejected requests, shutdown)', () => {
    expect(logger.lines.length).toBeGreaterThan(20);
    expect(logger.lines.some((l) => /\[node1 t=\d+ (leader|follower|candidate|pre-candidate)\]/.test(l))).toBe(true);
    // The ghost member never answered: the leader logged failed peer requests to it.
    expect(logger.lines.some((l) => /ghost.*unreachable/.test(l))).toBe(true);
    for (const line of logger.lines) expect(line).not.toContain(SECRET);
  });
});

async function forwardedCount(url: string): Promise<number> {
  const text = (await request(`${url}/metrics`)).text;
  return Number(/^raft_forwarded_requests_total (\d+)/m.exec(text)?.[1] ?? NaN);
}
