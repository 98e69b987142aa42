import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { ReplayCache as ReplayCacheType } from '@raft-cqrs/raft/transport';
import { ReplayCache } from '@raft-cqrs/raft/transport';
import type { ClusterStatus, RaftClusterModuleOptions } from '../src';
import { memberProofHeaders, verifyMemberProof } from '../src/admin/member-proof';
import { CapturingLogger, freePort, request, startNode, TestNode, waitFor } from './support';

jest.setTimeout(60_000);

const SECRET = 'admin-auth-test-secret-7c1e';
const TIMING = { electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30 };
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Starts three in-process nodes with `extra` options and waits for an agreed leader. */
async function startCluster(extra: Partial<RaftClusterModuleOptions>, logger: CapturingLogger): Promise<{ nodes: Map<string, TestNode>; leader: () => Promise<ClusterStatus> }> {
  const ports = new Map<string, number>();
  for (const id of ['n1', 'n2', 'n3']) ports.set(id, await freePort());
  const members = [...ports].map(([id, port]) => `${id}=http://127.0.0.1:${port}`);
  const nodes = new Map<string, TestNode>();
  await Promise.all([...ports].map(async ([id, port]) => nodes.set(id, await startNode(id, port, { members, ...TIMING, ...extra }, logger))));
  const leader = (): Promise<ClusterStatus> =>
    waitFor('an agreed leader', async () => {
      const all = [...nodes.values()].map((n) => n.cluster.status());
      const l = all.find((s) => s.isLeader);
      return l !== undefined && all.every((s) => s.leaderId === l.memberId && s.term === l.term) ? l : null;
    });
  await leader();
  return { nodes, leader };
}

/** The three routes that change membership or leadership, as requests on `base`. */
function adminRequests(base: string, target: string): { name: string; url: string; method: string; body?: unknown }[] {
  return [
    { name: 'POST /cluster/members', url: `${base}/cluster/members`, method: 'POST', body: { id: 'intruder', url: 'http://127.0.0.1:1' } },
    { name: 'DELETE /cluster/members/:id', url: `${base}/cluster/members/${target}`, method: 'DELETE' },
    { name: 'POST /cluster/leadership-transfer', url: `${base}/cluster/leadership-transfer`, method: 'POST', body: { to: target } },
  ];
}

/** What an admin request could change: configuration, leader, term, log. */
function shape(s: ClusterStatus): unknown {
  return { members: s.members.map((m) => `${m.id}:${m.voter}`).sort(), leaderId: s.leaderId, term: s.term, lastLogIndex: s.lastLogIndex };
}

describe('admin endpoints with the default credential (the cluster secret)', () => {
  const logger = new CapturingLogger();
  let cluster: Awaited<ReturnType<typeof startCluster>>;

  beforeAll(async () => {
    cluster = await startCluster({ secret: SECRET }, logger);
  });

  afterAll(async () => {
    await Promise.all([...cluster.nodes.values()].map((n) => n.app.close()));
  });

  it('answers 401 without a credential or with a wrong one, on the leader and on a follower, and changes nothing', async () => {
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.keys()].find((id) => id !== leader.memberId)!;
    const other = [...cluster.nodes.keys()].find((id) => id !== leader.memberId && id !== follower)!;
    const before = shape(leader);
    for (const on of [leader.memberId, follower]) {
      for (const r of adminRequests(cluster.nodes.get(on)!.url, other)) {
        for (const headers of [{}, bearer('not-the-secret-at-all'), { authorization: SECRET }, { authorization: 'Basic YWRtaW46YWRtaW4=' }]) {
          const answer = await request(r.url, { method: r.method, body: r.body, headers });
          expect([on, r.name, headers, answer.status, answer.json().error]).toEqual([on, r.name, headers, 401, 'unauthorized']);
          expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
        }
      }
    }
    // A request that claims to be forwarded by a member, without a member proof, is no better.
    const forged = await request(`${cluster.nodes.get(leader.memberId)!.url}/cluster/leadership-transfer`, { method: 'POST', body: { to: other }, headers: { 'x-raft-forwarded': '1' } });
    expect(forged.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(shape(await cluster.leader())).toEqual(before);
  });

  it('does what was asked with the bearer token, through a follower too', async () => {
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.keys()].find((id) => id !== leader.memberId)!;
    const moved = await request(`${cluster.nodes.get(follower)!.url}/cluster/leadership-transfer`, { method: 'POST', body: { to: follower }, headers: bearer(SECRET) });
    expect([moved.status, moved.json().leaderId]).toEqual([200, follower]);
    const next = await cluster.leader();
    expect(next.memberId).toBe(follower);
    const viaOld = await request(`${cluster.nodes.get(leader.memberId)!.url}/cluster/members`, { method: 'POST', body: { id: 'n4', url: 'http://127.0.0.1:9' }, headers: bearer(SECRET) });
    expect(viaOld.status).toBe(201);
    const removed = await request(`${cluster.nodes.get(leader.memberId)!.url}/cluster/members/n4`, { method: 'DELETE', headers: bearer(SECRET) });
    expect(removed.status).toBe(200);
  });

  it('keeps reads open by default', async () => {
    const url = [...cluster.nodes.values()][0].url;
    for (const path of ['/cluster/status', '/metrics', '/health/live']) expect([path, (await request(`${url}${path}`)).status]).toEqual([path, 200]);
  });

  it('never logs the credential', () => {
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.filter((l) => l.includes(SECRET))).toEqual([]);
  });
});

describe('admin endpoints with adminToken and protectReads', () => {
  const logger = new CapturingLogger();
  const TOKEN = 'a-separate-admin-token-31f0';
  let cluster: Awaited<ReturnType<typeof startCluster>>;

  beforeAll(async () => {
    cluster = await startCluster({ secret: SECRET, adminToken: TOKEN, protectReads: true }, logger);
  });

  afterAll(async () => {
    await Promise.all([...cluster.nodes.values()].map((n) => n.app.close()));
  });

  it('takes the token, and no longer the cluster secret', async () => {
    const leader = await cluster.leader();
    const url = cluster.nodes.get(leader.memberId)!.url;
    const withSecret = await request(`${url}/cluster/leadership-transfer`, { method: 'POST', body: {}, headers: bearer(SECRET) });
    expect(withSecret.status).toBe(401);
    const withToken = await request(`${url}/cluster/leadership-transfer`, { method: 'POST', body: {}, headers: bearer(TOKEN) });
    expect(withToken.status).toBe(200);
  });

  it('protects status, its stream and metrics, and leaves health open', async () => {
    const url = [...cluster.nodes.values()][0].url;
    for (const path of ['/cluster/status', '/metrics', '/cluster/stream']) {
      expect([path, (await request(`${url}${path}`)).status]).toEqual([path, 401]);
    }
    for (const path of ['/cluster/status', '/metrics']) {
      expect([path, (await request(`${url}${path}`, { headers: bearer(TOKEN) })).status]).toEqual([path, 200]);
    }
    expect((await request(`${url}/health/live`)).status).toBe(200);
    expect(logger.lines.filter((l) => l.includes(TOKEN))).toEqual([]);
  });

  it('refuses a token shorter than 8 characters, naming the option', async () => {
    await expect(startNode('x', await freePort(), { members: ['x=http://127.0.0.1:1'], secret: SECRET, adminToken: 'short' }, logger)).rejects.toThrow('option "adminToken"');
  });
});

/** The app's own guard: an `x-operator` header naming an operator it knows. */
@Injectable()
class OperatorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-operator'] === 'alice';
  }
}

describe('admin endpoints with the app\'s adminGuard', () => {
  const logger = new CapturingLogger();
  let cluster: Awaited<ReturnType<typeof startCluster>>;

  beforeAll(async () => {
    cluster = await startCluster({ secret: SECRET, adminGuard: OperatorGuard }, logger);
  });

  afterAll(async () => {
    await Promise.all([...cluster.nodes.values()].map((n) => n.app.close()));
  });

  it('asks the guard instead of the token, on a follower before forwarding', async () => {
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.keys()].find((id) => id !== leader.memberId)!;
    const url = cluster.nodes.get(follower)!.url;
    const bearerOnly = await request(`${url}/cluster/leadership-transfer`, { method: 'POST', body: { to: follower }, headers: bearer(SECRET) });
    expect([bearerOnly.status, bearerOnly.json().error]).toEqual([401, 'unauthorized']);
    expect((await cluster.leader()).memberId).toBe(leader.memberId);
    const operator = await request(`${url}/cluster/leadership-transfer`, { method: 'POST', body: { to: follower }, headers: { 'x-operator': 'alice' } });
    expect([operator.status, operator.json().leaderId]).toEqual([200, follower]);
  });
});

describe('member proofs', () => {
  it('are accepted once, for the exact method, path and body, with the cluster secret only', () => {
    const replay: ReplayCacheType = new ReplayCache(100);
    const body = { id: 'n4', url: 'http://127.0.0.1:4004' };
    const headers = memberProofHeaders(SECRET, 'POST', '/cluster/members', body);
    expect(verifyMemberProof(SECRET, 'POST', '/cluster/members', headers, { ...body, url: 'http://evil:1' }, replay)).toBe(false);
    expect(verifyMemberProof(SECRET, 'DELETE', '/cluster/members', headers, body, replay)).toBe(false);
    expect(verifyMemberProof('another-secret-entirely', 'POST', '/cluster/members', headers, body, replay)).toBe(false);
    expect(verifyMemberProof(SECRET, 'POST', '/cluster/members', headers, body, replay)).toBe(true);
    expect(verifyMemberProof(SECRET, 'POST', '/cluster/members', headers, body, replay)).toBe(false);
    expect(verifyMemberProof(null, 'POST', '/cluster/members', headers, body, replay)).toBe(false);
    expect(memberProofHeaders(null, 'POST', '/cluster/members', body)).toEqual({});
  });
});
