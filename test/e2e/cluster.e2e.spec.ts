import { execFileSync, spawnSync } from 'node:child_process';
import { ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * Real node processes on loopback (test/fixtures/kv-node): elections, failover, catch-up through a
 * snapshot, membership, leadership transfer, peer authentication, metrics and graceful shutdown.
 */
jest.setTimeout(120_000);

const ENTRY = 'test/fixtures/kv-node/main.ts';
const SECRET = 'e2e-secret-not-for-production';
const ADMIN = { authorization: `Bearer ${SECRET}` };

async function put(cluster: ProcessCluster, id: string, key: string, value: string): Promise<number> {
  const r = await request(`${cluster.url(id)}/kv/${key}`, { method: 'PUT', body: { value } });
  return r.status;
}

/** Writes through whoever leads, retrying on 503 as a client would; returns the failures seen. */
async function putRetrying(cluster: ProcessCluster, key: string, value: string, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const running = [...cluster.members.keys()].filter((id) => cluster.isRunning(id));
    for (const id of running) {
      try {
        const s = await put(cluster, id, key, value);
        if (s === 200) return;
        // 503: no leader, or this node is stopping; 409: not the leader. Both mean: try again.
        if (s !== 503 && s !== 409) throw new Error(`PUT ${key} on ${id} answered ${s}`);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('PUT')) throw err;
      }
    }
    if (Date.now() > deadline) throw new Error(`PUT ${key} did not succeed within ${deadlineMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `fn`; when it fails, the error carries the tail of the node's output. */
async function withOutput<T>(cluster: ProcessCluster, id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${id} output (tail) ---\n${cluster.output(id).slice(-4000)}`);
  }
}

describe('a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;

  beforeAll(async () => {
    cluster = await ProcessCluster.create({ size: 3, entry: ENTRY, secret: SECRET, env: { COMPACTION_THRESHOLD: '50' } });
    cluster.startAll();
  });

  afterAll(async () => {
    await cluster?.stopAll();
  });

  it('elects one leader that every node agrees on', async () => {
    const { leaderId, term } = await cluster.waitForLeader(30_000);
    const statuses = await Promise.all(['node1', 'node2', 'node3'].map((id) => cluster.status(id)));
    expect(statuses.filter((s) => s.isLeader).map((s) => s.memberId)).toEqual([leaderId]);
    for (const s of statuses) {
      expect(s.leaderId).toBe(leaderId);
      expect(s.term).toBe(term);
      expect(s.members.map((m) => m.id).sort()).toEqual(['node1', 'node2', 'node3']);
    }
  });

  it('replicates a write to every node', async () => {
    const { leaderId } = await cluster.waitForLeader();
    expect(await put(cluster, leaderId, 'greeting', 'hello')).toBe(200);
    for (const id of ['node1', 'node2', 'node3']) {
      await waitFor(`greeting on ${id}`, async () => (await request(`${cluster.url(id)}/kv/greeting`)).status === 200);
      const r = await request(`${cluster.url(id)}/kv/greeting?consistency=linearizable`);
      expect(r.json<{ value: string }>().value).toBe('hello');
    }
  });

  it('raftctl shows the members and a table of every node', async () => {
    const { leaderId, term } = await cluster.waitForLeader();
    const run = (...args: string[]): string =>
      execFileSync(process.execPath, ['bin/raftctl.js', ...args, '--url', cluster.url('node2')], { encoding: 'utf8', timeout: 30_000 });
    const members = run('members');
    expect(members).toContain(`${leaderId} *`);
    for (const id of ['node1', 'node2', 'node3']) expect(members).toContain(cluster.url(id));
    const table = run('watch', '--once').split('\n');
    const rows = table.filter((l) => /^node\d/.test(l));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.split(/\s+/).slice(2, 4)).toEqual([String(term), leaderId]);
    expect(JSON.parse(run('status')).leaderId).toBe(leaderId);
  });

  it('raftctl changes leadership only with the admin token (--token, or RAFT_ADMIN_TOKEN)', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CLUSTER_SECRET' && k !== 'RAFT_ADMIN_TOKEN'));
    const raftctl = (args: string[], extraEnv: Record<string, string> = {}): { status: number | null; stdout: string } =>
      spawnSync(process.execPath, ['bin/raftctl.js', ...args, '--url', cluster.url(leaderId)], { encoding: 'utf8', timeout: 30_000, env: { ...env, ...extraEnv } });
    const refused = raftctl(['transfer']);
    expect([refused.status, JSON.parse(refused.stdout).error]).toEqual([1, 'unauthorized']);
    expect((await cluster.waitForLeader()).leaderId).toBe(leaderId);
    const moved = raftctl(['transfer'], { RAFT_ADMIN_TOKEN: SECRET });
    expect([moved.status, JSON.parse(moved.stdout).previousLeaderId]).toEqual([0, leaderId]);
    const back = raftctl(['transfer', leaderId, '--token', SECRET]);
    expect(back.status).toBe(0);
  });

  it('refuses peer requests without the secret and changes nothing', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const follower = ['node1', 'node2', 'node3'].find((id) => id !== leaderId)!;
    const before = await cluster.status(follower);
    const forged = Buffer.from([1, 2, 3, 4]);
    const noSig = await request(`${cluster.url(follower)}/raft/messages`, {
      method: 'POST',
      body: forged.toString('latin1'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(noSig.status).toBe(401);
    const badSig = await request(`${cluster.url(follower)}/raft/messages`, {
      method: 'POST',
      body: forged.toString('latin1'),
      headers: { 'content-type': 'application/octet-stream', 'x-raft-timestamp': String(Date.now()), 'x-raft-signature': 'f'.repeat(64) },
    });
    expect(badSig.status).toBe(401);
    const after = await cluster.status(follower);
    expect(after.term).toBe(before.term);
    expect(after.leaderId).toBe(before.leaderId);
    expect(cluster.output(follower)).not.toContain(SECRET);
  });

  it('serves Prometheus metrics', async () => {
    const r = await request(`${cluster.url('node1')}/metrics`);
    expect(r.status).toBe(200);
    const lines = r.body.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (NaN|\+Inf|-Inf))$/);
    expect(r.body).toMatch(/^raft_term\b/m);
  });

  it('fails over when the leader is killed, and the old leader catches up through a snapshot', async () => {
    const { leaderId: old, term } = await cluster.waitForLeader();
    await cluster.kill(old, 'SIGKILL');
    const killedAt = Date.now();
    const survivors = ['node1', 'node2', 'node3'].filter((id) => id !== old);
    const next = await cluster.waitForLeader(20_000, survivors);
    expect(next.leaderId).not.toBe(old);
    expect(next.term).toBeGreaterThan(term);
    // More writes than the compaction threshold while it is down: it must come back through a snapshot.
    for (let i = 0; i < 120; i++) await putRetrying(cluster, `k${i}`, `v${i}`);
    expect(Date.now() - killedAt).toBeGreaterThan(0);
    cluster.start(old);
    await withOutput(cluster, old, () =>
      waitFor(
        `${old} to catch up`,
        async () => {
          const [s, leader] = await Promise.all([cluster.status(old), cluster.status(next.leaderId)]);
          return s.lastApplied >= leader.commitIndex && s.snapshotIndex > 0;
        },
        30_000,
      ),
    );
    const r = await request(`${cluster.url(old)}/kv/k119`);
    expect(r.json<{ value: string }>().value).toBe('v119');
  });

  it('moves leadership on request', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const to = ['node1', 'node2', 'node3'].find((id) => id !== leaderId)!;
    const r = await request(`${cluster.url(leaderId)}/cluster/leadership-transfer`, { method: 'POST', headers: ADMIN, body: { to } });
    expect(r.status).toBeLessThan(300);
    const after = await cluster.waitForLeader();
    expect(after.leaderId).toBe(to);
  });

  it('adds a fourth node as a learner that becomes a voter, then removes a member', async () => {
    await cluster.define('node4');
    const { leaderId } = await cluster.waitForLeader();
    const follower = ['node1', 'node2', 'node3'].find((id) => id !== leaderId)!;
    cluster.start('node4', { join: cluster.url(follower) });
    await waitFor(
      'node4 to become a voter',
      async () => {
        const s = await cluster.status(leaderId);
        return s.members.find((m) => m.id === 'node4')?.voter === true;
      },
      40_000,
    );
    await waitFor('node4 to have the data', async () => (await request(`${cluster.url('node4')}/kv/k119`)).status === 200, 20_000);
    const victim = follower;
    const del = await request(`${cluster.url(leaderId)}/cluster/members/${victim}`, { method: 'DELETE', headers: ADMIN });
    expect(del.status).toBeLessThan(300);
    await waitFor(
      `${victim} to be gone`,
      async () => !(await cluster.status(leaderId)).members.some((m) => m.id === victim),
      20_000,
    );
    await cluster.kill(victim);
    await putRetrying(cluster, 'after-remove', 'yes');
  });

  it('loses no write when the leader shuts down gracefully (SIGTERM) and clients retry on 503', async () => {
    const { leaderId } = await cluster.waitForLeader();
    const failures: string[] = [];
    let stop = false;
    let written = 0;
    const writer = (async () => {
      while (!stop) {
        try {
          await putRetrying(cluster, `graceful${written}`, String(written), 15_000);
          written++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    await waitFor('some writes', async () => written > 20);
    await cluster.kill(leaderId, 'SIGTERM');
    await cluster.waitForLeader(20_000);
    const target = written + 20;
    await waitFor('writes after the handover', async () => written > target, 20_000);
    stop = true;
    await writer;
    expect(failures).toEqual([]);
    expect(cluster.output(leaderId)).toMatch(/transfer|leadership/i);
  });
});
