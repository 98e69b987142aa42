import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Message } from '@raft-cqrs/raft';
import { createPeerRequestHandler, HttpTransport, mountPeerHandler, PeerRequestHandler, signPeerRequest } from '@raft-cqrs/raft/transport';
import { createGroupPeerDispatcher, groupPeerUrl, groupSecret } from '../src/groups/group-peer';

/**
 * The groups' peer channel (libs/raft-cluster/src/groups): a group's transport sends to
 * `<member URL>/raft-groups/<group>/raft/stream`, the dispatcher verifies that path with the group's
 * key and hands the stream to the group's handler, which checks every frame.
 */
const SECRET = 'group-peer-test-secret';

function heartbeat(from: string, to: string, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit, readRound: 0 } as Message;
}

function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met'));
      setTimeout(check, 10);
    };
    check();
  });
}

describe('v2 group peer dispatcher', () => {
  let server: http.Server;
  let base: string;
  let unmount: () => void;
  const received: Message[] = [];
  const transports: HttpTransport[] = [];
  let alpha: PeerRequestHandler;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(418);
      res.end('app');
    });
    alpha = createPeerRequestHandler({ secret: groupSecret(SECRET, 'alpha'), maxBodyBytes: 1 << 20, selfId: 'n1', onMessages: (msgs) => received.push(...msgs) });
    unmount = mountPeerHandler(server, createGroupPeerDispatcher({ secret: SECRET, handlerFor: (g) => (g === 'alpha' ? alpha : null) }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const t of transports) await t.close();
    unmount();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function transport(key: string | null, group: string): HttpTransport {
    const t = new HttpTransport({ selfId: 'n2', secret: key, requestTimeoutMs: 1000 });
    transports.push(t);
    t.setPeers({ n1: groupPeerUrl(base, group) });
    return t;
  }

  it('delivers a group stream signed over the prefixed path with the group key', async () => {
    const t = transport(groupSecret(SECRET, 'alpha'), 'alpha');
    t.send([heartbeat('n2', 'n1', 7)]);
    await until(() => received.some((m) => m.type === 'heartbeat' && (m as { commit: number }).commit === 7));
    t.send([heartbeat('n2', 'n1', 8)]);
    await until(() => received.some((m) => (m as { commit: number }).commit === 8));
    expect(t.peerStatus().n1.reachable).toBe(true);
  });

  it("refuses another group's key on this group's path, and a signature made for the unprefixed path", async () => {
    const before = received.length;
    const wrong = transport(groupSecret(SECRET, 'beta'), 'alpha');
    wrong.send([heartbeat('n2', 'n1', 99)]);
    const plain = transport(SECRET, 'alpha');
    plain.send([heartbeat('n2', 'n1', 98)]);
    const path = '/raft-groups/alpha/raft/stream';
    const signedForInner = signPeerRequest(groupSecret(SECRET, 'alpha'), 'POST', '/raft/stream', Buffer.alloc(0), Date.now());
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method: 'POST', headers: { ...signedForInner, 'x-raft-from': 'n2' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(received.length).toBe(before);
    expect(wrong.peerStatus().n1.reachable).toBe(false);
    expect(plain.peerStatus().n1.reachable).toBe(false);
  });

  it('answers 404 for a group not hosted here and leaves every other path to the app', async () => {
    const get = (path: string, method = 'POST'): Promise<number> =>
      new Promise((resolve, reject) => {
        // Options rather than a URL: a URL would resolve dot segments before sending.
        const req = http.request({ host: '127.0.0.1', port: new URL(base).port, path, method }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('/raft-groups/gamma/raft/stream')).toBe(404);
    expect(await get('/raft-groups/alpha/raft/messages')).toBe(404);
    expect(await get('/raft-groups/%2E%2E/raft/stream')).toBe(404);
    expect(await get('/api/v2/groups/alpha/status', 'GET')).toBe(418);
  });
});
