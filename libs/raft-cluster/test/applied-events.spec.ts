import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { RAFT_STATE_MACHINE, RaftClusterModule, RaftClusterService } from '../src';
import type { ClusterStatus } from '../src';
import { CapturingLogger, createTestApp, freePort, request, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(30_000);

/**
 * `RaftClusterService.applied$` (what live queries listen to) tells of every change of the applied
 * state: entries, and a snapshot installed from the leader, which changes the state without an entry.
 */
describe('RaftClusterService.applied$', () => {
  const logger = new CapturingLogger();
  const nodes = new Map<string, TestNode>();
  const ports = new Map<string, number>();
  let root: string;
  let members: string[];

  const options = (id: string) => ({ members, dataDir: path.join(root, id), secret: 'applied-events-test-secret', compactionThreshold: 10, electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30 });
  const status = async (n: TestNode): Promise<ClusterStatus> => (await request(`${n.url}/cluster/status`)).json<ClusterStatus>();
  const leaderOf = (): Promise<TestNode> =>
    waitFor('a leader', async () => {
      for (const n of nodes.values()) if ((await status(n)).isLeader) return n;
      return null;
    });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-cluster-applied-'));
    for (const id of ['a', 'b', 'c']) ports.set(id, await freePort());
    members = [...ports].map(([id, port]) => `${id}=http://127.0.0.1:${port}`);
    for (const id of ports.keys()) nodes.set(id, await startNode(id, ports.get(id)!, options(id), logger));
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.app.close().catch(() => undefined)));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('emits each applied entry in order, and the index of a snapshot installed from the leader', async () => {
    let leader = await leaderOf();
    const seen: number[] = [];
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    const sub = follower.cluster.applied$.subscribe((i) => seen.push(i));
    const first = await leader.cluster.propose(TestKv.put('first', '1'));
    await waitFor('first on the follower', () => follower.kv.data.get('first') === '1');
    expect(seen).toContain(first.index);
    expect(follower.cluster.appliedIndex).toBeGreaterThanOrEqual(first.index);
    sub.unsubscribe();

    // The follower is down while the others compact their logs past what it has.
    nodes.delete(follower.id);
    await follower.app.close();
    leader = await leaderOf();
    for (let i = 0; i < 35; i++) await leader.cluster.propose(TestKv.put(`k${i}`, `v${i}`));
    expect((await status(leader)).snapshotIndex).toBeGreaterThan(first.index);

    // Back, with a listener from before its start: it catches up through the leader's snapshot.
    const moduleRef = await Test.createTestingModule({
      imports: [RaftClusterModule.forRoot({ memberId: follower.id, ...options(follower.id) })],
      providers: [TestKv, { provide: RAFT_STATE_MACHINE, useExisting: TestKv }],
    })
      .setLogger(logger)
      .compile();
    const after: number[] = [];
    moduleRef.get(RaftClusterService).applied$.subscribe((i) => after.push(i));
    const app = createTestApp(moduleRef, { logger });
    await app.listen(ports.get(follower.id)!, '127.0.0.1');
    const back: TestNode = { id: follower.id, url: `http://127.0.0.1:${ports.get(follower.id)}`, app, cluster: app.get(RaftClusterService), kv: app.get(TestKv) };
    nodes.set(back.id, back);
    await waitFor('the follower to catch up', () => back.kv.data.get('k34') === 'v34', 15_000);
    const installed = (await status(back)).snapshotIndex;
    expect(logger.lines.some((l) => l.includes(`[${back.id} `) && l.includes(`installed snapshot ${installed}/`))).toBe(true);
    // The snapshot's index is announced although no entry at that index was applied here.
    expect(after).toContain(installed);
    for (let i = 1; i < after.length; i++) expect(after[i]).toBeGreaterThan(after[i - 1]);
    expect(after.at(-1)).toBe(back.cluster.appliedIndex);
  });
});
