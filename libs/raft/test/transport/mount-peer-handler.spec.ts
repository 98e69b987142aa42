import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Message } from '../../src/core/types';
import { encodeMessages } from '../../src/transport/codec';
import { mountPeerHandler } from '../../src/transport/mount-peer-handler';
import { PEER_STREAM_PATH } from '../../src/transport/peer-endpoints';
import { createPeerRequestHandler, PeerRequestHandler } from '../../src/transport/peer-handler';
import { cleanups, hb, rawRequest, setup, sleep, waitFor } from './loopback';

describe('mountPeerHandler', () => {
  it('runs the peer handler first and falls through to existing listeners', async () => {
    const delivered: Message[] = [];
    const handler: PeerRequestHandler = createPeerRequestHandler({ secret: null, maxBodyBytes: 1 << 20, onMessages: (m) => delivered.push(...m) });
    const appCalls: string[] = [];
    const server = http.createServer((req, res) => {
      appCalls.push(req.url ?? '');
      res.end('app');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const port = (server.address() as AddressInfo).port;

    const unmount = mountPeerHandler(server, handler);
    expect(server.listeners('request')).toHaveLength(1);
    expect((await rawRequest(port, { method: 'GET', path: '/hello' })).body).toBe('app');
    const body = encodeMessages([hb('a', 'b', 7)]);
    expect((await rawRequest(port, { body })).status).toBe(204);
    expect((await rawRequest(port, { method: 'GET', path: '/raft/x' })).status).toBe(404);
    expect(delivered).toHaveLength(1);
    expect(appCalls).toEqual(['/hello']);

    unmount();
    expect((await rawRequest(port, { body })).body).toBe('app');
    expect(appCalls).toEqual(['/hello', '/raft/messages']);
  });

  it('the stream survives longer than a short server.requestTimeout (mountPeerHandler lifts it)', async () => {
    const { b, t, spy } = await setup({ requestTimeout: 200 });
    expect(b.server.requestTimeout).toBe(0);
    let n = 0;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 20);
    cleanups.push(() => clearInterval(timer));
    await sleep(1000);
    clearInterval(timer);
    await waitFor(() => b.received.length === n, 'all heartbeats');
    expect(b.requests).toEqual([PEER_STREAM_PATH]);
    expect(spy.statuses).toEqual([['b', true]]);
  });

  it('(contrast) with server.requestTimeout left on, Node kills the stream after it', async () => {
    const { b, t, spy } = await setup({ requestTimeout: 200, keepRequestTimeout: true }, { retryDelayMs: 5 });
    let n = 0;
    const timer = setInterval(() => t.send([hb('a', 'b', n++)]), 20);
    cleanups.push(() => clearInterval(timer));
    await waitFor(() => spy.statuses.some(([, ok]) => !ok), 'stream killed', 3000);
    clearInterval(timer);
    expect(b.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('unmounting ends open streams, so server.close() does not wait for them', async () => {
    const { b, t, spy } = await setup({}, { retryDelayMs: 1000 });
    t.send([hb('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'delivery');
    // server.close() alone waits for active requests, and a stream never ends by itself
    const closed = new Promise<void>((r) => b.server.close(() => r()));
    b.unmount();
    await closed;
    await waitFor(() => spy.statuses.length === 2, 'unreachable');
  });
});
