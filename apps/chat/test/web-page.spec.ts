import { Controller, Get, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createHttpAdapter, httpPlatform } from '@raft-cqrs/raft-cluster';
import request from 'supertest';
import { CHAT_OPTIONS, DEFAULT_CHAT_OPTIONS } from '../src/chat.options';
import { WebPage } from '../src/http/web-page';

@Controller()
class StatusController {
  @Get('status')
  status(): { from: string } {
    return { from: 'api' };
  }
}

async function appWith(publicDir: string | null): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    controllers: [StatusController],
    providers: [WebPage, { provide: CHAT_OPTIONS, useValue: { ...DEFAULT_CHAT_OPTIONS, publicDir } }],
  }).compile();
  const app = moduleRef.createNestApplication(createHttpAdapter(httpPlatform()), { logger: false });
  await app.init();
  // Fastify serves only once its plugins (the static files') are loaded.
  await (app.getHttpAdapter().getInstance() as { ready?: () => Promise<unknown> }).ready?.();
  return app;
}

describe('the web page folder', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'chat-public-'));
    writeFileSync(path.join(dir, 'index.html'), '<h1>chat</h1>');
    writeFileSync(path.join(dir, 'status'), 'a file named like a route');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is served at /, but an API route wins over a file of the same name', async () => {
    const app = await appWith(dir);
    const server = app.getHttpServer();
    const page = await request(server).get('/');
    expect(page.status).toBe(200);
    expect(page.text).toBe('<h1>chat</h1>');
    expect((await request(server).get('/status')).body).toEqual({ from: 'api' });
    expect((await request(server).get('/nothing-here')).status).toBe(404);
    await app.close();
  });

  it('may be missing: the API still works', async () => {
    const app = await appWith(path.join(dir, 'does-not-exist'));
    const server = app.getHttpServer();
    expect((await request(server).get('/status')).body).toEqual({ from: 'api' });
    expect((await request(server).get('/')).status).toBe(404);
    await app.close();
  });
});
