import * as http from 'node:http';
import * as net from 'node:net';
import { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createHttpAdapter, httpPlatform, LiveQueryBus, LiveQueryStreams, RaftClusterService } from '@raft-cqrs/raft-cluster';
import { orderAppModule } from '../src/app.module';

/* Nodes of the order app in this process, on HTTP_PLATFORM, and the small HTTP client the tests use. */

/** The cluster secret of the test nodes. */
export const SECRET = 'order-live-query-test-secret-8e2a';

/** Keeps Nest's log lines (printed only with RAFT_TEST_LOGS=1): the cluster's warnings explain a failure. */
export class QuietLogger implements LoggerService {
  readonly lines: string[] = [];
  private push(level: string, message: unknown): void {
    const line = `${level} ${typeof message === 'string' ? message : JSON.stringify(message)}`;
    this.lines.push(line);
    if (process.env.RAFT_TEST_LOGS === '1') process.stderr.write(`${line}\n`);
  }
  log(m: unknown): void {
    this.push('LOG', m);
  }
  error(m: unknown): void {
    this.push('ERROR', m);
  }
  warn(m: unknown): void {
    this.push('WARN', m);
  }
}

export interface OrderNode {
  id: string;
  url: string;
  app: INestApplication;
  cluster: RaftClusterService;
  live: LiveQueryBus;
  streams: LiveQueryStreams;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export function request(url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h: Record<string, string | number> = payload === undefined ? { ...headers } : { ...headers, 'content-type': 'application/json', 'content-length': payload.length };
    const req = http.request(url, { method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `extra`: module options the environment does not set (digestInterval, say). */
export async function startNode(id: string, port: number, members: string[], logger: LoggerService, extra: Record<string, unknown> = {}): Promise<OrderNode> {
  const raft = { memberId: id, members, dataDir: ':memory:', secret: SECRET, insecurePeers: false, electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30, ...extra };
  const moduleRef = await Test.createTestingModule({ imports: [orderAppModule(raft)] })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication(createHttpAdapter(httpPlatform()), { logger });
  await app.listen(port, '127.0.0.1');
  return { id, url: `http://127.0.0.1:${port}`, app, cluster: app.get(RaftClusterService), live: app.get(LiveQueryBus), streams: app.get(LiveQueryStreams) };
}
