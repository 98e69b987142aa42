import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_ROUTES } from '../src/controllers/routes';
import { isOpenEventStream, openEventStream } from '../src/http/event-stream';
import { AdmissionControl, alwaysServedPattern } from '../src/internal/admission';
import { waitFor } from './support';

/** A server whose /stream answers are left open, with the admission check in front as the module has it. */
async function server(open: (res: http.ServerResponse) => void, now: () => number) {
  const admission = new AdmissionControl({ alwaysServed: alwaysServedPattern('', DEFAULT_ROUTES), maxInFlight: 40, maxQueueDelayMs: 1000, now });
  const responses: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    if (admission.shed(req, res)) return;
    if (req.url === '/stream') {
      open(res);
      res.write(': hello\n\n');
      responses.push(res);
    } else res.end('ok');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  const get = (path: string): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = http.get(`${url}${path}`, { agent }, resolve);
      req.on('error', reject);
    });
  const close = async (): Promise<void> => {
    agent.destroy();
    for (const res of responses) res.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  return { get, close, admission, responses };
}

describe('openEventStream', () => {
  it('answers 200 with the stream headers and the caller\'s, readable back, so open streams leave the admission count', async () => {
    let now = 0;
    const s = await server((res) => openEventStream(res, { 'access-control-allow-origin': '*' }), () => now);
    try {
      const streams = await Promise.all(Array.from({ length: 40 }, () => s.get('/stream')));
      expect(streams.every((r) => r.statusCode === 200 && r.headers['content-type'] === 'text/event-stream; charset=utf-8' && r.headers['access-control-allow-origin'] === '*')).toBe(true);
      expect(s.responses.every(isOpenEventStream)).toBe(true);
      now += 60_000;
      const next = await s.get('/orders');
      expect(next.statusCode).toBe(200);
      next.resume();
    } finally {
      await s.close();
    }
  });

  it('(why) headers given to writeHead cannot be read back: such streams keep counting and a busy node refuses requests', async () => {
    let now = 0;
    const s = await server((res) => res.writeHead(200, { 'content-type': 'text/event-stream' }), () => now);
    try {
      await Promise.all(Array.from({ length: 40 }, () => s.get('/stream')));
      await waitFor('40 open', () => s.responses.length === 40);
      expect(s.responses.some(isOpenEventStream)).toBe(false);
      now += 60_000;
      const next = await s.get('/orders');
      expect(next.statusCode).toBe(503);
      next.resume();
    } finally {
      await s.close();
    }
  });
});
