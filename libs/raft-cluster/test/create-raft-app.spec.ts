import { Body, Controller, Get, INestApplication, Module, Param, Put, Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ClusterExceptionFilter, createRaftApp, HTTP_PLATFORMS, RAFT_STATE_MACHINE, RaftClusterModule } from '../src';
import { freePort, request, TestKv, waitFor } from './support';

jest.setTimeout(30_000);

@Controller('echo')
class EchoController {
  @Put(':id')
  put(@Body() body: unknown): { body: unknown } {
    return { body };
  }

  @Get(':id')
  get(@Param('id') id: string): { length: number } {
    return { length: id.length };
  }
}

function appModule(port: number): Type<unknown> {
  @Module({
    imports: [RaftClusterModule.forRoot({ memberId: 'a', members: [`a=http://127.0.0.1:${port}`], dataDir: ':memory:', insecurePeers: true })],
    controllers: [EchoController],
    providers: [TestKv, { provide: RAFT_STATE_MACHINE, useExisting: TestKv }, { provide: APP_FILTER, useClass: ClusterExceptionFilter }],
  })
  class AppModule {}
  return AppModule;
}

describe.each(HTTP_PLATFORMS)('createRaftApp on %s', (platform) => {
  let app: INestApplication;
  let base: string;
  let assets: string;

  beforeAll(async () => {
    assets = mkdtempSync(path.join(tmpdir(), 'raft-app-assets-'));
    writeFileSync(path.join(assets, 'hello.txt'), 'hello from a file');
    const port = await freePort();
    app = await createRaftApp(appModule(port), { platform, bodyLimit: 4096, staticAssets: assets, logger: false });
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    await waitFor('a leader', async () => (await request(`${base}/cluster/status`)).json<{ isLeader: boolean }>().isLeader);
  });

  afterAll(async () => {
    await app?.close();
    rmSync(assets, { recursive: true, force: true });
  });

  it('runs on the platform it was asked for', () => {
    expect(app.getHttpAdapter().getType()).toBe(platform);
  });

  it('parses JSON bodies, an empty one as {}', async () => {
    const r = await request(`${base}/echo/1`, { method: 'PUT', body: { stock: 5 } });
    expect({ status: r.status, body: r.json() }).toEqual({ status: 200, body: { body: { stock: 5 } } });
    const empty = await request(`${base}/echo/1`, { method: 'PUT', raw: Buffer.alloc(0), headers: { 'content-type': 'application/json' } });
    expect({ status: empty.status, body: empty.json() }).toEqual({ status: 200, body: { body: {} } });
  });

  it('refuses a body over bodyLimit with 413 and malformed JSON with 400, as { error, message }', async () => {
    const big = await request(`${base}/echo/1`, { method: 'PUT', body: { pad: 'x'.repeat(5000) } });
    expect({ status: big.status, body: big.json() }).toEqual({ status: 413, body: expect.objectContaining({ error: 'payload_too_large', message: expect.any(String) }) });
    // A client still sending a body of megabytes reads the 413 too (the body is read to its end first).
    for (const size of [1_000_000, 3_000_000, 8_000_000, 3_000_000, 8_000_000]) {
      const huge = await request(`${base}/echo/1`, { method: 'PUT', raw: Buffer.from(JSON.stringify({ pad: 'x'.repeat(size) })), headers: { 'content-type': 'application/json' } });
      expect({ size, status: huge.status, body: huge.json() }).toEqual({ size, status: 413, body: expect.objectContaining({ error: 'payload_too_large' }) });
    }
    const after = await request(`${base}/echo/1`, { method: 'PUT', body: { stock: 1 } });
    expect(after.status).toBe(200);
    const bad = await request(`${base}/echo/1`, { method: 'PUT', raw: Buffer.from('{"stock": '), headers: { 'content-type': 'application/json' } });
    expect({ status: bad.status, body: bad.json() }).toEqual({ status: 400, body: expect.objectContaining({ error: 'bad_request' }) });
  });

  it('passes long path parameters to the route, and answers a malformed URL with 400 { error, message }', async () => {
    const long = await request(`${base}/echo/${'x'.repeat(500)}`);
    expect({ status: long.status, body: long.json() }).toEqual({ status: 200, body: { length: 500 } });
    const bad = await request(`${base}/echo/%E0%A4%A`);
    expect({ status: bad.status, body: bad.json() }).toEqual({ status: 400, body: expect.objectContaining({ error: 'bad_request', message: expect.any(String) }) });
  });

  it('serves the static assets folder and the module\'s own cluster view', async () => {
    const file = await request(`${base}/hello.txt`);
    expect({ status: file.status, text: file.text }).toEqual({ status: 200, text: 'hello from a file' });
    const view = await request(`${base}/cluster/ui/cluster.js`);
    expect(view.status).toBe(200);
    expect(view.headers['content-type']).toMatch(/^text\/javascript/);
    const missing = await request(`${base}/cluster/ui/nope.js`);
    expect({ status: missing.status, body: missing.json() }).toEqual({ status: 404, body: expect.objectContaining({ error: 'not_found' }) });
  });
});
