/**
 * The node processes of a chaos run: on each host (network namespace) one order-app node and one
 * chat-app node, started with `ip netns exec <ns> node <build>/apps/<app>/src/main.js` (the sources
 * compiled once per run by build.ts) and configured by the SPEC's environment variables. A host crash kills both; a pause stops both.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, WriteStream } from 'node:fs';
import * as path from 'node:path';
import type { Build } from './build';
import type { Hosts } from './hosts';

export type AppKind = 'order' | 'chat';

export const APP_PORT: Record<AppKind, number> = { order: 7001, chat: 7101 };

export interface NodeTiming {
  electionTimeoutMs: string;
  heartbeatMs: number;
  compactionThreshold: number;
}

export interface NodeProc {
  app: AppKind;
  host: number;
  id: string;
  proc: ChildProcess | null;
  paused: boolean;
  dataDir: string;
  /** JOIN url when this node was re-added to the cluster (then MEMBERS is not passed). */
  join: string | null;
  log: WriteStream;
  starts: number;
  exits: { at: number; code: number | null; signal: string | null }[];
}

export class Nodes {
  readonly all: NodeProc[] = [];

  constructor(
    private readonly hosts: Hosts,
    private readonly dir: string,
    private readonly secret: string,
    private readonly timing: NodeTiming,
    private readonly apps: AppKind[],
    /** Node data folders (outside the repository: Jest would take the snapshot files for its own). */
    readonly dataRoot: string,
    /** The apps compiled once (build.ts), so restarts boot fast. */
    private readonly build: Build,
  ) {
    for (const app of apps) {
      for (let i = 1; i <= hosts.size; i++) {
        const id = `${app === 'order' ? 'o' : 'c'}${i}`;
        mkdirSync(path.join(dir, 'logs'), { recursive: true });
        this.all.push({
          app,
          host: i,
          id,
          proc: null,
          paused: false,
          dataDir: path.join(dataRoot, id),
          join: null,
          log: createWriteStream(path.join(dir, 'logs', `${id}.log`), { flags: 'a' }),
          starts: 0,
          exits: [],
        });
      }
    }
  }
  /** The admin credential of membership and transfer requests: the cluster secret (no ADMIN_TOKEN is set). */
  adminHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.secret}` };
  }


  node(app: AppKind, host: number): NodeProc {
    const n = this.all.find((x) => x.app === app && x.host === host);
    if (n === undefined) throw new Error(`no ${app} node on host ${host}`);
    return n;
  }

  onHost(host: number): NodeProc[] {
    return this.all.filter((n) => n.host === host);
  }

  /** Where clients reach the node (directly, not through the proxy). */
  clientUrl(app: AppKind, host: number): string {
    return `http://${this.hosts.addr(host)}:${APP_PORT[app]}`;
  }

  /** The member URL: the node's peer identity, in front of which runs its proxy. */
  peerUrl(app: AppKind, host: number): string {
    return `http://${this.hosts.peerAddr(host)}:${APP_PORT[app]}`;
  }

  membersEnv(app: AppKind): string {
    return Array.from({ length: this.hosts.size }, (_, k) => `${this.node(app, k + 1).id}=${this.peerUrl(app, k + 1)}`).join(',');
  }

  start(n: NodeProc): void {
    if (n.proc !== null) return;
    mkdirSync(n.dataDir, { recursive: true });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_PATH: this.build.nodePath,
      HOME: process.env.HOME ?? '/root',
      NODE_ID: n.id,
      PORT: String(APP_PORT[n.app]),
      HOST: this.hosts.addr(n.host),
      DATA_DIR: n.dataDir,
      CLUSTER_SECRET: this.secret,
      ELECTION_TIMEOUT_MS: this.timing.electionTimeoutMs,
      HEARTBEAT_MS: String(this.timing.heartbeatMs),
      COMPACTION_THRESHOLD: String(this.timing.compactionThreshold),
      ADVERTISE_URL: this.peerUrl(n.app, n.host),
      ...(n.join !== null ? { JOIN: n.join } : { MEMBERS: this.membersEnv(n.app) }),
      ...(n.app === 'chat' ? { CHAT_PUBLIC_DIR: '' } : {}),
    };
    const proc = spawn('ip', ['netns', 'exec', this.hosts.ns(n.host), process.execPath, this.build.entry(n.app)], {
      cwd: this.build.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    n.starts++;
    n.paused = false;
    n.log.write(`\n==== ${new Date().toISOString()} start #${n.starts} (${n.join !== null ? `JOIN=${n.join}` : 'MEMBERS'}) pid ${proc.pid}\n`);
    proc.stdout!.on('data', (c: Buffer) => n.log.write(c));
    proc.stderr!.on('data', (c: Buffer) => n.log.write(c));
    proc.on('exit', (code, signal) => {
      n.exits.push({ at: Date.now(), code, signal });
      n.log.write(`\n==== ${new Date().toISOString()} exit code=${code} signal=${signal}\n`);
      if (n.proc === proc) {
        n.proc = null;
        n.paused = false;
      }
    });
    n.proc = proc;
  }

  async kill(n: NodeProc, timeoutMs = 10_000): Promise<void> {
    const proc = n.proc;
    if (proc === null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // A stopped process gets SIGKILL all the same; SIGCONT first so nothing lingers half-stopped.
    proc.kill('SIGKILL');
    proc.kill('SIGCONT');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    n.proc = null;
    n.paused = false;
  }

  pause(n: NodeProc): void {
    if (n.proc === null || n.paused) return;
    n.proc.kill('SIGSTOP');
    n.paused = true;
  }

  resume(n: NodeProc): void {
    if (n.proc === null || !n.paused) return;
    n.proc.kill('SIGCONT');
    n.paused = false;
  }

  /** Forgets a node's state (a fresh disk), for re-adding it to the cluster. */
  wipe(n: NodeProc): void {
    rmSync(n.dataDir, { recursive: true, force: true });
  }

  pid(n: NodeProc): number | null {
    return n.proc?.pid ?? null;
  }

  /** VmHWM / VmRSS in KiB of a running node, from /proc. */
  memory(n: NodeProc): { hwmKb: number; rssKb: number } | null {
    const pid = this.pid(n);
    if (pid === null) return null;
    try {
      const s = readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+)/.exec(s);
      const rss = /VmRSS:\s+(\d+)/.exec(s);
      return { hwmKb: Number(hwm?.[1] ?? 0), rssKb: Number(rss?.[1] ?? 0) };
    } catch {
      return null;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((n) => this.kill(n)));
    await Promise.all(this.all.map((n) => (n.log.writableEnded ? undefined : new Promise<void>((r) => n.log.end(() => r())))));
  }
}
