import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterStatus } from '../src';
import { CapturingLogger, freePort, request, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(30_000);

/** A member that was down while the others compacted their logs catches up through a snapshot. */
describe('RaftClusterModule: catching up through a snapshot', () => {
  const logger = new CapturingLogger();
  const nodes = new Map<string, TestNode>();
  const ports = new Map<string, number>();
  let root: string;
  let members: string[];

  const start = async (id: string): Promise<TestNode> => {
    const n = await startNode(
      id,
      ports.get(id)!,
      { members, dataDir: path.join(root, id), secret: 'snapshot-test-secret', compactionThreshold: 10, electionTimeout: [150, 300], heartbeatInterval: 30 },
      logger,
    );
    nodes.set(id, n);
    return n;
  };
  const status = async (n: TestNode): Promise<ClusterStatus> => (await request(`${n.url}/cluster/status`)).json<ClusterStatus>();

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-cluster-snap-'));
    for (const id of ['a', 'b', 'c']) ports.set(id, await freePort());
    members = [...ports].map(([id, port]) => `${id}=http://127.0.0.1:${port}`);
    for (const id of ports.keys()) await start(id);
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.app.close().catch(() => undefined)));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('restarts a lagging member, which installs the leader snapshot and the entries after it', async () => {
    const leaderOf = async (): Promise<TestNode> =>
      waitFor('a leader', async () => {
        for (const n of nodes.values()) if ((await status(n)).isLeader) return n;
        return null;
      });
    let leader = await leaderOf();
    const lagging = [...nodes.values()].find((n) => n !== leader)!;
    await leader.cluster.propose(TestKv.put('first', '1'));
    await waitFor('first on the lagging node', () => lagging.kv.data.get('first') === '1');
    nodes.delete(lagging.id);
    await lagging.app.close();

    leader = await leaderOf();
    for (let i = 0; i < 35; i++) await leader.cluster.propose(TestKv.put(`k${i}`, `v${i}`));
    const ls = await status(leader);
    expect(ls.snapshotIndex).toBeGreaterThan(2); // the lagging node's next entry is gone from the leader's log

    const back = await start(lagging.id);
    await waitFor('the lagging node to catch up', async () => {
      const s = await status(back);
      return s.lastApplied >= ls.commitIndex && back.kv.data.get('k34') === 'v34';
    }, 15_000);
    expect(back.kv.data.get('first')).toBe('1');
    expect(back.kv.data.size).toBe(36);
    const s = await status(back);
    expect(s.snapshotIndex).toBeGreaterThan(2);
    expect((await request(`${back.url}/metrics`)).text).toMatch(/^raft_snapshots_total [1-9]/m);
    expect(logger.lines.some((l) => l.includes(`[${lagging.id} `) && /installed snapshot/.test(l))).toBe(true);
  });
});
