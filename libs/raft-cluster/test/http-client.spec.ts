import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpCall, HttpCallError } from '../src/internal/http-client';

describe('httpCall (the one client for calls between members)', () => {
  let server: http.Server;
  let base: string;
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (req.url === '/hang') return; // never answers
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echoed: req.url }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends a JSON body as JSON and a raw body byte for byte, with its own content type', async () => {
    await httpCall(base, { method: 'POST', path: '/json', body: { a: 1 }, timeoutMs: 2000 });
    expect(received.at(-1)).toMatchObject({ body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    const raw = Buffer.from('{"items":[1,2]}');
    const agent = new http.Agent({ keepAlive: true });
    const answer = await httpCall(base, { method: 'POST', path: '/raw', rawBody: raw, headers: { 'content-type': 'application/x-test' }, timeoutMs: 2000, agent });
    agent.destroy();
    expect(answer.status).toBe(200);
    expect(received.at(-1)).toMatchObject({ body: '{"items":[1,2]}', headers: { 'content-type': 'application/x-test', 'content-length': String(raw.length) } });
  });

  it('fails a call that is aborted, and one that outlives its timeout, as errors of their own kind', async () => {
    const abort = new AbortController();
    const pending = httpCall(base, { method: 'POST', path: '/hang', body: {}, timeoutMs: 5000, signal: abort.signal });
    setTimeout(() => abort.abort('leadership moved'), 20);
    await expect(pending).rejects.toMatchObject({ kind: 'network', message: expect.stringContaining('aborted (leadership moved)') });
    const slow = httpCall(base, { method: 'GET', path: '/hang', timeoutMs: 50 });
    await expect(slow).rejects.toBeInstanceOf(HttpCallError);
    await expect(slow).rejects.toMatchObject({ kind: 'timeout' });
  });

  it('refuses at once when the signal was aborted before the call', async () => {
    const abort = new AbortController();
    abort.abort('gone');
    const before = received.length;
    await expect(httpCall(base, { method: 'POST', path: '/json', body: {}, timeoutMs: 2000, signal: abort.signal })).rejects.toMatchObject({ kind: 'network' });
    await new Promise((r) => setTimeout(r, 50));
    expect(received.length).toBe(before);
  });
});
