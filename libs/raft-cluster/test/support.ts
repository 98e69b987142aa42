import * as http from 'node:http';
import * as net from 'node:net';
import { Injectable, INestApplication, LoggerService, NestApplicationOptions } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import type { ApplyContext, Entry, StateMachine } from '@raft-cqrs/raft';
import type { CqrsApplyHost } from '../src/cqrs/cqrs-state-machine';
import { createHttpAdapter, HttpAdapterOptions, HttpPlatform, httpPlatform, RAFT_STATE_MACHINE, RaftClusterModule, RaftClusterModuleOptions, RaftClusterService } from '../src';

/** The platform the in-process tests run on: HTTP_PLATFORM, as the sample apps read it (default fastify). */
export const TEST_PLATFORM: HttpPlatform = httpPlatform();

/** `moduleRef.createNestApplication` on TEST_PLATFORM. */
export function createTestApp(moduleRef: TestingModule, options: NestApplicationOptions & HttpAdapterOptions = {}): INestApplication {
  const { bodyLimit, ...appOptions } = options;
  return moduleRef.createNestApplication(createHttpAdapter(TEST_PLATFORM, { bodyLimit }), appOptions);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A small replicated key-value map. */
@Injectable()
export class TestKv implements StateMachine {
  readonly data = new Map<string, string>();

  static put(key: string, value: string): Uint8Array {
    return encoder.encode(JSON.stringify({ key, value }));
  }

  apply(entry: Entry, ctx: ApplyContext): { key: string; index: number } {
    const cmd = JSON.parse(decoder.decode(entry.data)) as { key: string; value: string };
    this.data.set(cmd.key, cmd.value);
    return { key: cmd.key, index: ctx.index };
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.data]));
  }

  restore(bytes: Uint8Array): void {
    this.data.clear();
    if (bytes.length === 0) return;
    for (const [k, v] of JSON.parse(decoder.decode(bytes)) as [string, string][]) this.data.set(k, v);
  }
}

/** Collects every line Nest's logger gets (all levels), optionally echoing them (RAFT_TEST_LOGS=1). */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private readonly echo = process.env.RAFT_TEST_LOGS === '1';

  private push(level: string, message: unknown, rest: unknown[]): void {
    const line = `${level} ${[message, ...rest].map((x) => (x instanceof Error ? `${x.message}\n${x.stack}` : typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}`;
    this.lines.push(line);
    if (this.echo) process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.push('LOG', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('ERROR', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.push('WARN', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.push('DEBUG', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.push('VERBOSE', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.push('FATAL', message, rest);
  }
}

/** A port that was free a moment ago on `host` (loopback by default). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestNode {
  id: string;
  url: string;
  app: INestApplication;
  cluster: RaftClusterService;
  kv: TestKv;
}

export async function startNode(
  id: string,
  port: number,
  options: Omit<RaftClusterModuleOptions, 'memberId' | 'dataDir'> & { dataDir?: string },
  logger: LoggerService,
  host = '127.0.0.1',
): Promise<TestNode> {
  const moduleRef = await Test.createTestingModule({
    imports: [RaftClusterModule.forRoot({ memberId: id, dataDir: ':memory:', ...options })],
    providers: [TestKv, { provide: RAFT_STATE_MACHINE, useExisting: TestKv }],
  })
    .setLogger(logger)
    .compile();
  const app = createTestApp(moduleRef, { logger });
  await app.listen(port, host);
  return { id, url: `http://${host}:${port}`, app, cluster: app.get(RaftClusterService), kv: app.get(TestKv) };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP request (no keep-alive, so closing apps is never held up by client sockets). */
export function request(
  url: string,
  opts: { method?: string; body?: unknown; raw?: Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = opts.raw ?? (opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body)));
    const headers: Record<string, string | number> = { ...opts.headers };
    if (payload !== undefined) {
      headers['content-length'] = payload.length;
      if (headers['content-type'] === undefined) headers['content-type'] = opts.raw ? 'application/octet-stream' : 'application/json';
    }
    const req = http.request(url, { method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Whether `port` can be bound on `host` right now. */
export async function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Polls `check` until it returns a truthy value (returned) or the deadline passes (throws with the last state). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A CQRS state machine's host for unit tests: runs commands with `executeHandler`; a follower that publishes, proposes and reports nothing. */
export function quietApplyHost(executeHandler: CqrsApplyHost['executeHandler']): CqrsApplyHost {
  return {
    executeHandler,
    publishLocal: () => undefined,
    handlersReady: async () => undefined,
    isLeader: () => false,
    proposeDigest: () => undefined,
    onDivergence: () => undefined,
    warn: () => undefined,
  };
}
