import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ProcessCluster, waitFor } from '../../test/support/process-cluster';
import { EtcdCluster, EtcdGrpcDriver, EtcdTimeouts } from './etcd';
import { Driver, EtcdGatewayDriver, OursDriver } from './load';

/**
 * The two systems behind one face, so the rounds, the load and the failover code never branch on
 * which one runs. Each instance is one fresh cluster (new temp folder), started and stopped once.
 */
export interface System {
  readonly kind: 'ours' | 'etcd';
  readonly label: string;
  start(): Promise<void>;
  leader(): Promise<string>;
  members(): string[];
  /** A member that is not the current leader and knows the leader. */
  follower(): Promise<string>;
  /** The load paths this system offers, by name, on the current leader / follower. */
  paths(): string[];
  driver(path: string, concurrency: number): Promise<Driver>;
  /** One write attempt on member `id` for the failover measure (true when acknowledged). */
  tryPut(id: string, key: string, timeoutMs: number): Promise<boolean>;
  kill(id: string): Promise<void>;
  restart(id: string): void;
  waitCaughtUp(id: string): Promise<void>;
  /** The running members' process ids, by member id (for CPU accounting per role). */
  processes(): { id: string; pid: number }[];
  stop(): Promise<void>;
  /** The last lines a member printed (for error reports). */
  output(id: string): string;
}

export const OURS_PATHS = ['ours-leader', 'ours-follower'];
/** Diagnostic, off by default: the same PUT /kv/:key on test/fixtures/kv-node (a raw StateMachine, no CQRS bus). */
export const RAW_PATHS = ['ours-raw-leader', 'ours-raw-follower'];
export const ETCD_PATHS = ['etcd-gateway', 'etcd-gateway-follower', 'etcd-grpc'];

const FIXTURE = 'bench/fixtures/kv-cqrs/main.ts';
const RAW_FIXTURE = 'test/fixtures/kv-node/main.ts';

export class OursSystem implements System {
  readonly kind = 'ours' as const;
  readonly label: string;
  private readonly entry: string;
  private readonly ownPaths: string[];
  private cluster: ProcessCluster | null = null;
  private readonly failoverDrivers = new Map<string, OursDriver>();

  /** `cpuProfDir`: run every node with --cpu-prof into that folder; stop() then ends them with SIGTERM so the profiles are written. */
  constructor(
    raw = false,
    private readonly cpuProfDir?: string,
  ) {
    this.entry = raw ? RAW_FIXTURE : FIXTURE;
    this.ownPaths = raw ? RAW_PATHS : OURS_PATHS;
    this.label = `ours (raft-cqrs${raw ? ' raw StateMachine, no CQRS' : ' CQRS'} on ${process.env.HTTP_PLATFORM || 'fastify'}, 3 nodes, default timeouts 150-300/50 ms, durable storage)`;
  }

  async start(): Promise<void> {
    const env =
      this.cpuProfDir !== undefined
        ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(__dirname, 'cpu-prof.cjs')}`.trim(), BENCH_CPU_PROF_DIR: this.cpuProfDir }
        : undefined;
    this.cluster = await ProcessCluster.create({ size: 3, entry: this.entry, secret: 'bench-compare-secret-0123456789', env });
    this.cluster.startAll();
    try {
      await this.cluster.waitForLeader(60_000);
    } catch (err) {
      throw new Error(`${String(err)}\nnode1 said:\n${this.cluster.output('node1').slice(-1500)}`);
    }
  }

  private c(): ProcessCluster {
    if (this.cluster === null) throw new Error('ours: not started');
    return this.cluster;
  }

  async leader(): Promise<string> {
    return (await this.c().waitForLeader(30_000)).leaderId;
  }

  members(): string[] {
    return [...this.c().members.keys()];
  }

  async follower(): Promise<string> {
    const leaderId = await this.leader();
    const id = this.members().find((m) => m !== leaderId && this.c().isRunning(m))!;
    await waitFor('the follower to know the leader', async () => (await this.c().status(id)).leaderId === leaderId, 10_000);
    return id;
  }

  paths(): string[] {
    return this.ownPaths;
  }

  async driver(path: string, concurrency: number): Promise<Driver> {
    const id = path.endsWith('-follower') ? await this.follower() : await this.leader();
    return new OursDriver(path, this.c().url(id), concurrency);
  }

  async tryPut(id: string, key: string, timeoutMs: number): Promise<boolean> {
    let d = this.failoverDrivers.get(id);
    if (d === undefined) {
      d = new OursDriver(`failover-${id}`, this.c().url(id), 256, timeoutMs);
      this.failoverDrivers.set(id, d);
    }
    try {
      await d.put(key, 'failover', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  async kill(id: string): Promise<void> {
    await this.c().kill(id, 'SIGKILL');
  }

  restart(id: string): void {
    this.c().start(id);
  }

  async waitCaughtUp(id: string): Promise<void> {
    const c = this.c();
    const others = this.members().filter((m) => m !== id);
    await waitFor(
      `${id} to catch up`,
      async () => {
        const s = await c.status(id);
        const all = await Promise.all(others.map((m) => c.status(m)));
        return s.leaderId !== null && s.lastApplied >= Math.max(...all.map((a) => a.commitIndex));
      },
      60_000,
    );
    await c.waitForLeader(30_000);
  }

  processes(): { id: string; pid: number }[] {
    if (this.cluster === null) return [];
    return [...this.cluster.members.values()].flatMap((m) => (m.proc?.pid !== undefined ? [{ id: m.id, pid: m.proc.pid }] : []));
  }

  async stop(): Promise<void> {
    for (const d of this.failoverDrivers.values()) d.close();
    this.failoverDrivers.clear();
    const c = this.cluster;
    this.cluster = null;
    if (c === null) return;
    if (this.cpuProfDir !== undefined) await dumpProfiles(this.cpuProfDir, [...c.members.values()].map((m) => ({ id: m.id, pid: m.proc?.pid })));
    await c.stopAll();
  }

  output(id: string): string {
    return this.cluster?.output(id).slice(-2000) ?? '';
  }
}

export class EtcdSystem implements System {
  readonly kind = 'etcd' as const;
  readonly label: string;
  private cluster: EtcdCluster | null = null;
  private readonly failoverDrivers = new Map<string, EtcdGatewayDriver>();

  constructor(private readonly timeouts: EtcdTimeouts = {}) {
    this.label =
      timeouts.heartbeatMs === undefined && timeouts.electionMs === undefined
        ? 'etcd (3 members, defaults: heartbeat 100 ms, election 1000 ms, fsync on)'
        : `etcd (3 members, --heartbeat-interval=${timeouts.heartbeatMs ?? 100} --election-timeout=${timeouts.electionMs ?? 1000}, fsync on)`;
  }

  async start(): Promise<void> {
    this.cluster = await EtcdCluster.create(this.timeouts);
    this.cluster.startAll();
    try {
      await this.cluster.waitForLeader(60_000);
    } catch (err) {
      throw new Error(`${String(err)}\netcd1 said:\n${this.cluster.output('etcd1').slice(-1500)}`);
    }
  }

  private c(): EtcdCluster {
    if (this.cluster === null) throw new Error('etcd: not started');
    return this.cluster;
  }

  async leader(): Promise<string> {
    return (await this.c().waitForLeader(30_000)).leader;
  }

  members(): string[] {
    return this.c().names();
  }

  async follower(): Promise<string> {
    const leader = await this.leader();
    return this.members().find((m) => m !== leader && this.c().isRunning(m))!;
  }

  paths(): string[] {
    return ETCD_PATHS;
  }

  async driver(path: string, concurrency: number): Promise<Driver> {
    const id = path === 'etcd-gateway-follower' ? await this.follower() : await this.leader();
    const url = this.c().url(id);
    return path === 'etcd-grpc' ? new EtcdGrpcDriver(path, url) : new EtcdGatewayDriver(path, url, concurrency);
  }

  async tryPut(id: string, key: string, timeoutMs: number): Promise<boolean> {
    let d = this.failoverDrivers.get(id);
    if (d === undefined) {
      d = new EtcdGatewayDriver(`failover-${id}`, this.c().url(id), 256, timeoutMs);
      this.failoverDrivers.set(id, d);
    }
    try {
      await d.put(key, 'failover', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  async kill(id: string): Promise<void> {
    await this.c().kill(id, 'SIGKILL');
  }

  restart(id: string): void {
    this.c().start(id);
  }

  async waitCaughtUp(id: string): Promise<void> {
    await this.c().waitCaughtUp(id, 60_000);
    await this.c().waitForLeader(30_000);
  }

  processes(): { id: string; pid: number }[] {
    if (this.cluster === null) return [];
    return [...this.cluster.members.values()].flatMap((m) => (m.proc?.pid !== undefined ? [{ id: m.name, pid: m.proc.pid }] : []));
  }

  async stop(): Promise<void> {
    for (const d of this.failoverDrivers.values()) d.close();
    this.failoverDrivers.clear();
    const c = this.cluster;
    this.cluster = null;
    if (c !== null) await c.stopAll();
  }

  output(id: string): string {
    return this.cluster?.output(id).slice(-2000) ?? '';
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return 0;
  }
}

/** Asks each profiled node (see cpu-prof.cjs) to write its profile, and waits for the files (10 s at most). */
async function dumpProfiles(dir: string, nodes: { id: string; pid: number | undefined }[]): Promise<void> {
  const files: string[] = [];
  for (const n of nodes) {
    if (n.pid === undefined) continue;
    try {
      process.kill(n.pid, 'SIGUSR2');
      files.push(path.join(dir, `${n.id}-${n.pid}.cpuprofile`));
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !files.every((f) => existsSync(f))) await new Promise((r) => setTimeout(r, 100));
}
