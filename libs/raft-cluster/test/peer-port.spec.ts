import { encodeMessages, PEER_MESSAGES_PATH } from '@raft-cqrs/raft/transport';
import type { ClusterStatus } from '../src';
import { CapturingLogger, canListen, freePort, request, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(30_000);

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const SECRET = 'peer-port-secret-77c1';

/**
 * `peerPort`: the peer endpoints on a server of their own, on the same port on every member (each member
 * on its own loopback address here, as on separate machines). Linux answers on all of 127.0.0.0/8; where
 * that is not so, the suite is skipped.
 */
describe('RaftClusterModule with peerPort', () => {
  const logger = new CapturingLogger();
  const nodes: TestNode[] = [];
  let peerPort = 0;
  let usable = true;

  beforeAll(async () => {
    for (const h of HOSTS) if (!(await canListen(h, 0))) usable = false;
    if (!usable) return;
    for (let attempt = 0; attempt < 20; attempt++) {
      const p = await freePort(HOSTS[0]);
      if ((await Promise.all(HOSTS.map((h) => canListen(h, p)))).every(Boolean)) {
        peerPort = p;
        break;
      }
    }
    const ports = await Promise.all(HOSTS.map((h) => freePort(h)));
    const members = HOSTS.map((h, i) => `n${i + 1}=http://${h}:${ports[i]}`);
    for (let i = 0; i < HOSTS.length; i++) {
      nodes.push(
        await startNode(
          `n${i + 1}`,
          ports[i],
          { members, secret: SECRET, electionTimeout: [150, 300], heartbeatInterval: 30, peerPort, peerHost: HOSTS[i] },
          logger,
          HOSTS[i],
        ),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close().catch(() => undefined)));
  });

  it('elects a leader and replicates over the peer port', async () => {
    if (!usable) return;
    const leader = await waitFor('a leader known to all', async () => {
      const all = await Promise.all(nodes.map(async (n) => (await request(`${n.url}/cluster/status`)).json<ClusterStatus>()));
      const l = all.find((s) => s.isLeader);
      return l !== undefined && all.every((s) => s.leaderId === l.memberId) ? l : null;
    });
    const svc = nodes.find((n) => n.id === leader.memberId)!.cluster;
    await svc.propose(TestKv.put('k', 'v'));
    for (const n of nodes) await waitFor(`k on ${n.id}`, () => n.kv.data.get('k') === 'v');
  });

  it('serves /raft/* on the peer port only', async () => {
    if (!usable) return;
    const n = nodes[0];
    const body = encodeMessages([]);
    const onApp = await request(`${n.url}${PEER_MESSAGES_PATH}`, { method: 'POST', raw: body });
    expect(onApp.status).toBe(404);
    const onPeer = await request(`http://${HOSTS[0]}:${peerPort}${PEER_MESSAGES_PATH}`, { method: 'POST', raw: body });
    expect(onPeer.status).toBe(401);
    const status = await request(`http://${HOSTS[0]}:${peerPort}/cluster/status`);
    expect(status.status).toBe(404);
    expect(status.json()).toMatchObject({ error: 'not_found' });
  });
});
