import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RaftClusterModule, RaftClusterService } from '../src';
import { CapturingLogger, createTestApp, freePort, request, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(30_000);

const TIMING = { electionTimeout: [100, 200] as [number, number], heartbeatInterval: 20 };

describe('RaftClusterModule: one node with durable storage', () => {
  const logger = new CapturingLogger();
  let dir: string;
  let port: number;
  let running: TestNode | null = null;

  const start = async (): Promise<TestNode> => {
    running = await startNode(
      'solo',
      port,
      { members: [`solo=http://127.0.0.1:${port}`], dataDir: dir, insecurePeers: true, compactionThreshold: 5, ...TIMING },
      logger,
    );
    await waitFor('solo to lead', () => running!.cluster.isLeader);
    return running;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-cluster-solo-'));
    port = await freePort();
  });

  afterAll(async () => {
    await running?.app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leads alone, commits, snapshots, and answers the single-node edge cases', async () => {
    const n = await start();
    for (let i = 0; i < 12; i++) await n.cluster.propose(TestKv.put(`k${i}`, `v${i}`));
    expect(n.kv.data.size).toBe(12);
    const s = n.cluster.status();
    expect(s).toMatchObject({ memberId: 'solo', isLeader: true, leaderId: 'solo', leaderUrl: `http://127.0.0.1:${port}` });
    expect(s.snapshotIndex).toBeGreaterThan(0);
    expect(s.lastApplied).toBe(s.commitIndex);

    const metrics = (await request(`${n.url}/metrics`)).text;
    expect(metrics).toMatch(/^raft_snapshots_total [1-9]/m);
    expect(metrics).toMatch(/^raft_snapshot_bytes [1-9]/m);
    expect(metrics).toMatch(/^raft_proposals_total\{result="ok"\} 12$/m);
    expect(metrics).toMatch(/^raft_append_latency_seconds_count 12$/m);
    expect(metrics).toMatch(/^raft_elections_total 1$/m);

    expect((await request(`${n.url}/health/ready`)).status).toBe(200);
    const transfer = await request(`${n.url}/cluster/leadership-transfer`, { method: 'POST' });
    expect(transfer.status).toBe(409);
    expect(transfer.json()).toMatchObject({ error: 'no_transferee' });
    const self = await request(`${n.url}/cluster/members/solo`, { method: 'DELETE' });
    expect(self.status).toBe(409);
    expect(self.json()).toMatchObject({ error: 'last_voter' });
    const badId = await request(`${n.url}/cluster/members/${encodeURIComponent('a b')}`, { method: 'DELETE' });
    expect(badId.status).toBe(400);
    expect(badId.json()).toMatchObject({ error: 'bad_request', field: 'id' });
    const noBody = await request(`${n.url}/cluster/members`, { method: 'POST', body: [1] });
    expect(noBody.status).toBe(400);
    expect(noBody.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('JSON object') });
    const noId = await request(`${n.url}/cluster/members`, { method: 'POST', body: { url: 'http://127.0.0.1:1' } });
    expect(noId.status).toBe(400);
    expect(noId.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('"id"') });
    await n.app.close();
    running = null;
  });

  it('restarts from its data directory: snapshot plus log are replayed into the state machine', async () => {
    const n = await start();
    await waitFor('the state to be back', () => n.kv.data.size === 12);
    expect(n.kv.data.get('k11')).toBe('v11');
    const { index } = await n.cluster.propose(TestKv.put('after-restart', 'yes'));
    expect(index).toBeGreaterThan(12);
    expect(n.cluster.status().term).toBeGreaterThanOrEqual(2);
  });

  it('fails at bootstrap without a RAFT_STATE_MACHINE provider, saying what to provide', async () => {
    const p = await freePort();
    @Module({ imports: [RaftClusterModule.forRoot({ memberId: 'x', members: [`x=http://127.0.0.1:${p}`], dataDir: ':memory:', insecurePeers: true })] })
    class NoStateMachineModule {}
    const moduleRef = await Test.createTestingModule({ imports: [NoStateMachineModule] })
      .setLogger(logger)
      .compile();
    const app = createTestApp(moduleRef, { logger });
    await expect(app.init()).rejects.toThrow(/no state machine\. Import CqrsModule.forRoot\(\).*or provide one under the RAFT_STATE_MACHINE token/);
    await app.close().catch(() => undefined);
  });

  it('supports forRootAsync with an injected factory, and a global prefix', async () => {
    const p = await freePort();
    @Module({ providers: [{ provide: 'PORT', useValue: p }], exports: ['PORT'] })
    class ConfigModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        RaftClusterModule.forRootAsync({
          imports: [ConfigModule],
          inject: ['PORT'],
          useFactory: (port: number) => ({ memberId: 'a', members: [{ id: 'a', url: `http://127.0.0.1:${port}` }], dataDir: ':memory:', insecurePeers: true, ...TIMING }),
        }),
      ],
      providers: [TestKv, { provide: 'RAFT_STATE_MACHINE', useExisting: TestKv }],
    })
      .setLogger(logger)
      .compile();
    const app = createTestApp(moduleRef, { logger });
    app.setGlobalPrefix('api');
    await app.listen(p, '127.0.0.1');
    try {
      const svc = app.get(RaftClusterService);
      await waitFor('a to lead', () => svc.isLeader);
      expect(svc.options.members).toEqual([{ id: 'a', url: `http://127.0.0.1:${p}` }]);
      // Under a global prefix the cluster endpoints move with the app; the peer endpoint (/raft/*) does not.
      expect((await request(`http://127.0.0.1:${p}/api/health/live`)).json()).toEqual({ status: 'ok' });
      expect((await request(`http://127.0.0.1:${p}/api/cluster/status`)).json()).toMatchObject({ memberId: 'a', isLeader: true });
      expect(svc.clusterPath('/cluster/members')).toBe('/api/cluster/members');
      expect((await request(`http://127.0.0.1:${p}/raft/messages`)).status).toBe(405);
    } finally {
      await app.close();
    }
  });
});
