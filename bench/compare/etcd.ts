import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort, waitFor } from '../../test/support/process-cluster';
import { Driver, httpRequest } from './load';

/** `etcd --version`'s first line, or null when etcd is not on PATH. */
export function etcdVersion(): string | null {
  try {
    const out = execFileSync('etcd', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /etcd Version:\s*(\S+)/.exec(out);
    return m !== null ? m[1] : out.split('\n')[0];
  } catch {
    return null;
  }
}

export interface EtcdTimeouts {
  /** --heartbeat-interval in ms; etcd's default is 100. */
  heartbeatMs?: number;
  /** --election-timeout in ms; etcd's default is 1000 (etcd randomises each election in [t, 2t)). */
  electionMs?: number;
}

interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: ChildProcess | null;
  output: string[];
  /** etcd's member id (decimal string as the JSON gateway prints it), known once it answered. */
  memberId: string | null;
}

interface EtcdStatus {
  header?: { member_id?: string; raft_term?: string };
  leader?: string;
  raftIndex?: string;
  raftTerm?: string;
  raftAppliedIndex?: string;
}

const statusAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/**
 * A 3-member etcd cluster on loopback, at etcd's defaults (fsync on) unless timeouts are given,
 * data under a temp folder (on the same disk as ours: both use os.tmpdir()).
 */
export class EtcdCluster {
  readonly members = new Map<string, EtcdMember>();
  readonly root: string;

  private constructor(
    private readonly timeouts: EtcdTimeouts,
    size: number,
  ) {
    this.root = mkdtempSync(path.join(tmpdir(), 'etcd-bench-'));
    for (let i = 1; i <= size; i++) {
      const name = `etcd${i}`;
      this.members.set(name, { name, clientPort: 0, peerPort: 0, clientUrl: '', peerUrl: '', dataDir: path.join(this.root, name), proc: null, output: [], memberId: null });
    }
  }

  static async create(timeouts: EtcdTimeouts = {}, size = 3): Promise<EtcdCluster> {
    const c = new EtcdCluster(timeouts, size);
    for (const m of c.members.values()) {
      m.clientPort = await freePort();
      m.peerPort = await freePort();
      m.clientUrl = `http://127.0.0.1:${m.clientPort}`;
      m.peerUrl = `http://127.0.0.1:${m.peerPort}`;
    }
    return c;
  }

  names(): string[] {
    return [...this.members.keys()];
  }

  url(name: string): string {
    return this.members.get(name)!.clientUrl;
  }

  isRunning(name: string): boolean {
    return this.members.get(name)!.proc !== null;
  }

  output(name: string): string {
    return this.members.get(name)!.output.join('');
  }

  start(name: string): void {
    const m = this.members.get(name)!;
    if (m.proc !== null) throw new Error(`${name} is already running`);
    const initialCluster = [...this.members.values()].map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=bench-${path.basename(this.root)}`,
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
      ...(this.timeouts.heartbeatMs !== undefined ? [`--heartbeat-interval=${this.timeouts.heartbeatMs}`] : []),
      ...(this.timeouts.electionMs !== undefined ? [`--election-timeout=${this.timeouts.electionMs}`] : []),
    ];
    const proc = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      m.output.push(chunk.toString('utf8'));
      if (m.output.length > 500) m.output.splice(0, m.output.length - 500);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.on('exit', () => {
      if (m.proc === proc) m.proc = null;
    });
    m.proc = proc;
  }

  startAll(): void {
    for (const name of this.members.keys()) this.start(name);
  }

  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<void> {
    const m = this.members.get(name)!;
    const proc = m.proc;
    if (proc === null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    m.proc = null;
  }

  async status(name: string): Promise<EtcdStatus> {
    const r = await httpRequest(statusAgent, `${this.url(name)}/v3/maintenance/status`, 'POST', '{}', 1000);
    if (r.status !== 200) throw new Error(`${name} status answered ${r.status}`);
    const s = JSON.parse(r.body) as EtcdStatus;
    if (s.header?.member_id !== undefined) this.members.get(name)!.memberId = s.header.member_id;
    return s;
  }

  /** Waits until every running member names the same leader, itself running; returns its name. */
  async waitForLeader(timeoutMs = 30_000): Promise<{ leader: string; term: number }> {
    const running = this.names().filter((n) => this.isRunning(n));
    return waitFor(
      'an agreed etcd leader',
      async () => {
        const all = await Promise.all(running.map((n) => this.status(n)));
        const leaderId = all[0].leader;
        if (leaderId === undefined || leaderId === '0' || !all.every((s) => s.leader === leaderId)) return undefined;
        const leader = running.find((n) => this.members.get(n)!.memberId === leaderId);
        return leader === undefined ? undefined : { leader, term: Number(all[0].raftTerm ?? all[0].header?.raft_term ?? 0) };
      },
      timeoutMs,
    );
  }

  /** Waits until `name` runs, follows the agreed leader and has the leader's raft index (as of the call). */
  async waitCaughtUp(name: string, timeoutMs = 30_000): Promise<void> {
    const { leader } = await this.waitForLeader(timeoutMs);
    const target = Number((await this.status(leader)).raftIndex ?? 0);
    await waitFor(`${name} to catch up`, async () => Number((await this.status(name)).raftIndex ?? 0) >= target, timeoutMs);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.names().map((n) => this.kill(n, 'SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** etcd through gRPC: one `etcd3` client (its own channel pool) on one member. */
export class EtcdGrpcDriver implements Driver {
  private readonly client: Etcd3;

  constructor(
    readonly name: string,
    url: string,
  ) {
    this.client = new Etcd3({ hosts: [url] });
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.put(key).value(value).exec();
  }

  close(): void {
    this.client.close();
  }
}

export function destroyStatusAgent(): void {
  statusAgent.destroy();
}
