import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ClusterStatus } from '@raft-cqrs/raft-cluster';

/** A cluster of real node processes on loopback, for end-to-end tests and benchmarks. */
export interface ProcessClusterOptions {
  size: number;
  /** Entry file: TypeScript runs through @swc-node/register, JavaScript with plain `node`. */
  entry: string;
  /** Working directory of the nodes (default: the repository). */
  cwd?: string;
  secret?: string;
  env?: Record<string, string>;
}

export type NodeStatus = ClusterStatus;

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

const ROOT = path.resolve(__dirname, '../..');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    const req = http.request(
      url,
      {
        method: init.method ?? 'GET',
        agent,
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.headers ?? {}) },
        timeout: init.timeoutMs ?? 2000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${init.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Member {
  id: string;
  port: number;
  url: string;
  dataDir: string;
  proc: ChildProcess | null;
  output: string[];
}

export class ProcessCluster {
  readonly members = new Map<string, Member>();
  readonly root: string;
  private readonly secret: string | undefined;

  private constructor(private readonly opts: ProcessClusterOptions) {
    this.root = mkdtempSync(path.join(tmpdir(), 'raft-e2e-'));
    this.secret = opts.secret;
  }

  static async create(opts: ProcessClusterOptions): Promise<ProcessCluster> {
    const c = new ProcessCluster(opts);
    for (let i = 1; i <= opts.size; i++) await c.define(`node${i}`);
    return c;
  }

  /** Reserves a port and data folder for a member (started separately). */
  async define(id: string): Promise<Member> {
    const port = await freePort();
    const m: Member = { id, port, url: `http://127.0.0.1:${port}`, dataDir: path.join(this.root, id), proc: null, output: [] };
    this.members.set(id, m);
    return m;
  }

  membersEnv(ids: string[] = [...this.members.keys()]): string {
    return ids.map((id) => `${id}=${this.members.get(id)!.url}`).join(',');
  }

  url(id: string): string {
    return this.members.get(id)!.url;
  }

  /** Starts a member; `initial` lists the initial voters (default: all defined), or `join` a running member's URL. */
  start(id: string, opts: { initial?: string[]; join?: string; env?: Record<string, string> } = {}): void {
    const m = this.members.get(id)!;
    if (m.proc !== null) throw new Error(`${id} is already running`);
    const env: Record<string, string> = {
      ...process.env,
      NODE_ID: id,
      PORT: String(m.port),
      HOST: '127.0.0.1',
      DATA_DIR: m.dataDir,
      ...(opts.join !== undefined ? { JOIN: opts.join } : { MEMBERS: this.membersEnv(opts.initial) }),
      ...(this.secret !== undefined ? { CLUSTER_SECRET: this.secret } : { INSECURE_PEERS: '1' }),
      ...(this.opts.env ?? {}),
      ...(opts.env ?? {}),
    } as Record<string, string>;
    const args = this.opts.entry.endsWith('.ts') ? ['-r', '@swc-node/register', this.opts.entry] : [this.opts.entry];
    const proc = spawn(process.execPath, args, { cwd: this.opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      m.output.push(chunk.toString('utf8'));
      if (m.output.length > 2000) m.output.splice(0, m.output.length - 2000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.on('exit', () => {
      if (m.proc === proc) m.proc = null;
    });
    m.proc = proc;
  }

  startAll(): void {
    for (const id of this.members.keys()) this.start(id);
  }

  isRunning(id: string): boolean {
    return this.members.get(id)!.proc !== null;
  }

  output(id: string): string {
    return this.members.get(id)!.output.join('');
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<void> {
    const m = this.members.get(id)!;
    const proc = m.proc;
    if (proc === null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    m.proc = null;
  }

  async status(id: string): Promise<NodeStatus> {
    const r = await request(`${this.url(id)}/cluster/status`, { timeoutMs: 1000 });
    if (r.status !== 200) throw new Error(`${id} /cluster/status answered ${r.status}`);
    return r.json<NodeStatus>();
  }

  /** Waits until every running member agrees on one leader and term; returns it. */
  async waitForLeader(timeoutMs = 20_000, among: string[] = [...this.members.keys()].filter((id) => this.isRunning(id))): Promise<{ leaderId: string; term: number }> {
    return waitFor(
      'an agreed leader',
      async () => {
        const all = await Promise.all(among.map((id) => this.status(id)));
        const leaders = all.filter((s) => s.isLeader);
        if (leaders.length !== 1) return undefined;
        const { memberId, term } = leaders[0];
        return all.every((s) => s.leaderId === memberId && s.term === term) ? { leaderId: memberId, term } : undefined;
      },
      timeoutMs,
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.members.keys()].map((id) => this.kill(id, 'SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
    agent.destroy();
  }
}
