import * as net from 'node:net';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RAFT_STATE_MACHINE, RaftClusterModule, RaftClusterModuleForRootOptions, RaftClusterService } from '../src';
import { CapturingLogger, createTestApp, freePort, request, TestKv, waitFor } from './support';

jest.setTimeout(60_000);

const SECRET = 'routes-test-secret-91ac';
const ADMIN = { authorization: `Bearer ${SECRET}` };
const TIMING = { electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30 };

async function start(options: RaftClusterModuleForRootOptions, port: number, logger: CapturingLogger, globalPrefix = 'api'): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [RaftClusterModule.forRoot(options)],
    providers: [TestKv, { provide: RAFT_STATE_MACHINE, useExisting: TestKv }],
  })
    .setLogger(logger)
    .compile();
  const app = createTestApp(moduleRef, { logger });
  app.setGlobalPrefix(globalPrefix);
  await app.listen(port, '127.0.0.1');
  return app;
}

/** A request that stays in progress: headers and half of its body sent, the rest never. */
function stalledRequest(port: number, path: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":`);
  return socket;
}

describe('routes: renamed, turned off, under a global prefix', () => {
  const logger = new CapturingLogger();
  const apps: INestApplication[] = [];
  const ports: number[] = [];
  const url = (i: number): string => `http://127.0.0.1:${ports[i]}`;

  beforeAll(async () => {
    ports.push(await freePort(), await freePort());
    const routes = { cluster: 'ops/raft', health: 'healthz', metrics: false as const };
    apps.push(await start({ memberId: 'n1', members: [`n1=${url(0)}`], dataDir: ':memory:', secret: SECRET, maxInFlightRequests: 1, routes, ...TIMING }, ports[0], logger));
    await waitFor('n1 to lead', () => apps[0].get(RaftClusterService).isLeader);
    // n2 joins through n1: the join request must find the membership route where n1 serves it.
    apps.push(await start({ memberId: 'n2', members: [], join: `${url(0)}`, advertiseUrl: url(1), dataDir: ':memory:', secret: SECRET, routes, ...TIMING }, ports[1], logger));
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
  });

  it('serves the cluster and health routes at their new paths only, and no metrics', async () => {
    expect((await request(`${url(0)}/api/ops/raft/status`)).json()).toMatchObject({ memberId: 'n1', isLeader: true });
    expect((await request(`${url(0)}/api/healthz/live`)).status).toBe(200);
    expect((await request(`${url(0)}/api/ops/raft/ui/cluster.js`)).status).toBe(200);
    for (const gone of ['/api/cluster/status', '/cluster/status', '/api/health/live', '/api/metrics', '/metrics']) {
      expect([gone, (await request(`${url(0)}${gone}`)).status]).toEqual([gone, 404]);
    }
  });

  it('lets a node join through the moved membership route, and removes it there', async () => {
    await waitFor('n2 in the configuration', () => apps[0].get(RaftClusterService).status().members.some((m) => m.id === 'n2'), 15_000);
    await waitFor('n2 to know the leader', () => apps[1].get(RaftClusterService).leaderId === 'n1');
    const removed = await request(`${url(1)}/api/ops/raft/members/n2`, { method: 'DELETE', headers: ADMIN });
    expect([removed.status, removed.text]).toEqual([200, expect.any(String)]);
  });

  it('keeps serving the moved status and health under load, and sheds the rest', async () => {
    const stalled = stalledRequest(ports[0], '/api/anything');
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect((await request(`${url(0)}/api/other`)).status).toBe(503);
      expect((await request(`${url(0)}/api/ops/raft/status`)).status).toBe(200);
      expect((await request(`${url(0)}/api/healthz/ready`)).status).toBe(200);
      expect((await request(`${url(0)}/api/ops/raft/members`, { method: 'POST', headers: ADMIN, body: {} })).status).toBe(503);
    } finally {
      stalled.destroy();
    }
  });

  it('refuses a bad routes option, naming it', async () => {
    await expect(start({ memberId: 'x', members: ['x=http://127.0.0.1:1'], dataDir: ':memory:', secret: SECRET, routes: { metrics: '../x' } }, await freePort(), logger)).rejects.toThrow('option "routes.metrics"');
  });
});

describe('metrics', () => {
  it("carry Node's process metrics unless processMetrics is false", async () => {
    const logger = new CapturingLogger();
    const [a, b] = [await freePort(), await freePort()];
    const withProcess = await start({ memberId: 'm', members: [`m=http://127.0.0.1:${a}`], dataDir: ':memory:', secret: SECRET }, a, logger, '');
    const without = await start({ memberId: 'm', members: [`m=http://127.0.0.1:${b}`], dataDir: ':memory:', secret: SECRET, processMetrics: false }, b, logger, '');
    try {
      const one = (await request(`http://127.0.0.1:${a}/metrics`)).text;
      const two = (await request(`http://127.0.0.1:${b}/metrics`)).text;
      expect(one).toMatch(/^process_cpu_seconds_total /m);
      expect(one).toMatch(/^nodejs_eventloop_lag_seconds /m);
      expect(one).toMatch(/^raft_term /m);
      expect(two).not.toMatch(/process_cpu_seconds_total/);
      expect(two).toMatch(/^raft_term /m);
    } finally {
      await Promise.all([withProcess.close(), without.close()]);
    }
  });
});
