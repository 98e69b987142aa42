/**
 * Hosts for the chaos run: one network namespace per node, each with a veth pair whose other end is
 * on a bridge in the root namespace, on a private /24 of our own (10.77.<k>.0/24, k chosen free).
 *
 * Addresses on that subnet, for host i (1-based):
 *   10.77.k.i        the host's own address (inside its namespace); the node processes listen there
 *   10.77.k.(100+i)  the host's "peer identity", on the bridge in the root namespace: the member URL
 *                    of node i points there, at a userspace proxy (proxy.ts) that forwards to
 *                    10.77.k.i, binding its outgoing socket to 10.77.k.(100+j) when the traffic
 *                    comes from host j. So every peer packet node i sees from node j has the source
 *                    address 10.77.k.(100+j), and iptables rules inside the namespaces cut links by
 *                    address, while the proxy can add latency (the kernel refuses `tc netem`).
 *   10.77.k.254      the root namespace's address on the bridge (clients connect from there)
 *
 * No traffic goes anywhere else: the namespaces have no default route.
 *
 * Every namespace, link and iptables rule is recorded in a state file under /tmp/rcq-chaos/ with the
 * pid of the run that made it; a later run removes whatever a dead run left behind (including any
 * namespace named rcq-* that no live run claims).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const STATE_DIR = '/tmp/rcq-chaos';
export const NS_PREFIX = 'rcq-';

export interface HostsPlan {
  /** Short tag (<= 8 chars) used in interface names, unique per run. */
  tag: string;
  /** Third octet of the subnet. */
  k: number;
  namespaces: string[];
  bridge: string;
  veths: string[];
  pid: number;
}

export type Log = (line: string) => void;

function sh(cmd: string, args: string[], log?: Log, allowFail = false): string {
  if (log) log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  if (r.error) {
    if (allowFail) return '';
    throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  }
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Fails with a clear message when this process cannot create namespaces (not root, no `ip`, no
 * netns support). Installs iptables with apt-get when it is missing, saying so.
 */
export function checkPrerequisites(log: Log): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('chaos: network namespaces need root (this process runs as uid ' + process.getuid() + '); run as root');
  }
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) throw new Error('chaos: the `ip` command (iproute2) is missing: apt-get install -y iproute2');
  const probe = `${NS_PREFIX}probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`chaos: cannot create a network namespace (ip netns add): ${(add.stderr || '').trim()}`);
  spawnSync('ip', ['netns', 'del', probe]);
  const ipt = spawnSync('iptables', ['--version'], { encoding: 'utf8' });
  if (ipt.error || ipt.status !== 0) {
    log('chaos: iptables is missing; installing it: apt-get update && apt-get install -y iptables');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const upd = spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env, timeout: 300_000 });
    if (upd.status !== 0) throw new Error(`chaos: apt-get update failed: ${(upd.stderr || '').trim().slice(-500)}`);
    const inst = spawnSync('apt-get', ['install', '-y', '-qq', 'iptables'], { encoding: 'utf8', env, timeout: 300_000 });
    if (inst.status !== 0) throw new Error(`chaos: apt-get install -y iptables failed: ${(inst.stderr || '').trim().slice(-500)}`);
    log('chaos: iptables installed');
  }
}

/** Removes everything runs that are no longer alive left behind. */
export function cleanupLeftovers(log: Log): void {
  mkdirSync(STATE_DIR, { recursive: true });
  const claimed = new Set<string>();
  for (const f of readdirSync(STATE_DIR)) {
    if (!f.endsWith('.json')) continue;
    const file = path.join(STATE_DIR, f);
    let plan: HostsPlan;
    try {
      plan = JSON.parse(readFileSync(file, 'utf8')) as HostsPlan;
    } catch {
      rmSync(file, { force: true });
      continue;
    }
    if (pidAlive(plan.pid) && plan.pid !== process.pid) {
      for (const ns of plan.namespaces) claimed.add(ns);
      continue;
    }
    log(`chaos: removing leftovers of run ${plan.tag} (pid ${plan.pid} is gone)`);
    teardownPlan(plan, log);
    rmSync(file, { force: true });
  }
  const list = sh('ip', ['netns', 'list'], undefined, true);
  for (const line of list.split('\n')) {
    const ns = line.trim().split(/\s+/)[0];
    if (ns === undefined || !ns.startsWith(NS_PREFIX) || claimed.has(ns)) continue;
    log(`chaos: removing leftover namespace ${ns}`);
    killNamespaceProcesses(ns, log);
    sh('ip', ['netns', 'del', ns], log, true);
  }
}

function killNamespaceProcesses(ns: string, log: Log): void {
  const pids = sh('ip', ['netns', 'pids', ns], undefined, true)
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
      log(`chaos: killed pid ${pid} left in ${ns}`);
    } catch {
      /* already gone */
    }
  }
}

export function teardownPlan(plan: HostsPlan, log: Log): void {
  for (const ns of plan.namespaces) {
    if (!existsSync(`/var/run/netns/${ns}`) && !existsSync(`/run/netns/${ns}`)) continue;
    killNamespaceProcesses(ns, log);
    sh('ip', ['netns', 'del', ns], log, true);
  }
  for (const v of plan.veths) {
    if (existsSync(`/sys/class/net/${v}`)) sh('ip', ['link', 'del', v], log, true);
  }
  if (existsSync(`/sys/class/net/${plan.bridge}`)) sh('ip', ['link', 'del', plan.bridge], log, true);
  rmSync(path.join(STATE_DIR, `${plan.tag}.json`), { force: true });
}

function usedSubnets(): Set<number> {
  const out = sh('ip', ['-4', '-o', 'addr', 'show'], undefined, true);
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 10\.77\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

export class Hosts {
  private constructor(
    readonly plan: HostsPlan,
    private readonly log: Log,
  ) {}

  /** Creates `n` hosts for the run `seed`. */
  static create(n: number, seed: number, log: Log): Hosts {
    const pid = process.pid;
    const tag = `rq${(pid % 46656).toString(36)}`; // <= 5 chars: bridge "rqXXXbr", veth "rqXXXh1"
    const used = usedSubnets();
    let k = 20 + (pid % 200);
    for (let tries = 0; used.has(k) && tries < 250; tries++) k = 20 + ((k - 20 + 1) % 230);
    if (used.has(k)) throw new Error('chaos: no free 10.77.k.0/24 subnet');
    const plan: HostsPlan = {
      tag,
      k,
      namespaces: Array.from({ length: n }, (_, i) => `${NS_PREFIX}${seed}-${tag}-n${i + 1}`),
      bridge: `${tag}br`,
      veths: Array.from({ length: n }, (_, i) => `${tag}h${i + 1}`),
      pid,
    };
    mkdirSync(STATE_DIR, { recursive: true });
    writeFileSync(path.join(STATE_DIR, `${tag}.json`), JSON.stringify(plan));
    const hosts = new Hosts(plan, log);
    try {
      hosts.build();
    } catch (err) {
      teardownPlan(plan, log);
      throw err;
    }
    return hosts;
  }

  get size(): number {
    return this.plan.namespaces.length;
  }

  /** Host i's own address (1-based). */
  addr(i: number): string {
    return `10.77.${this.plan.k}.${i}`;
  }

  /** Host i's peer identity (on the bridge, where its proxy listens). */
  peerAddr(i: number): string {
    return `10.77.${this.plan.k}.${100 + i}`;
  }

  get clientAddr(): string {
    return `10.77.${this.plan.k}.254`;
  }

  ns(i: number): string {
    return this.plan.namespaces[i - 1];
  }

  private build(): void {
    const { bridge, k } = this.plan;
    const log = this.log;
    sh('ip', ['link', 'add', bridge, 'type', 'bridge'], log);
    sh('ip', ['link', 'set', bridge, 'up'], log);
    sh('ip', ['addr', 'add', `10.77.${k}.254/24`, 'dev', bridge], log);
    for (let i = 1; i <= this.size; i++) {
      sh('ip', ['addr', 'add', `${this.peerAddr(i)}/24`, 'dev', bridge], log);
      const ns = this.ns(i);
      const host = this.plan.veths[i - 1];
      const inner = `${this.plan.tag}c${i}`;
      sh('ip', ['netns', 'add', ns], log);
      sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', inner], log);
      sh('ip', ['link', 'set', inner, 'netns', ns], log);
      sh('ip', ['link', 'set', host, 'master', bridge, 'up'], log);
      sh('ip', ['-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', inner], log);
      sh('ip', ['-n', ns, 'link', 'set', inner, 'up'], log);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], log);
    }
  }

  /** Rules waiting for `commit()`, per host. */
  private pending = new Map<number, string[]>();

  private rule(i: number, r: string): void {
    const list = this.pending.get(i) ?? [];
    list.push(r);
    this.pending.set(i, list);
  }

  /**
   * Installs the pending rules, one `iptables-restore --noflush` per host, in parallel and without
   * blocking the event loop (the proxies and clients run in this process: a synchronous spawn would
   * freeze them and show up as unavailability of the product).
   */
  async commit(): Promise<void> {
    const work = [...this.pending.entries()].map(([i, rules]) => this.restore(i, `*filter\n${rules.join('\n')}\nCOMMIT\n`, true));
    this.pending = new Map();
    await Promise.all(work);
  }

  /** Removes every rule in every host (we only add to the filter table's INPUT and OUTPUT chains). */
  async flushAll(): Promise<void> {
    this.pending = new Map();
    await Promise.all(Array.from({ length: this.size }, (_, k) => this.restore(k + 1, '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n', false)));
  }

  private restore(i: number, input: string, noflush: boolean): Promise<void> {
    this.log(`$ ip netns exec ${this.ns(i)} iptables-restore${noflush ? ' --noflush' : ''} <<< ${JSON.stringify(input)}`);
    return new Promise((resolve, reject) => {
      const child = execFile('ip', ['netns', 'exec', this.ns(i), 'iptables-restore', '-w', '5', ...(noflush ? ['--noflush'] : [])], { timeout: 15_000 }, (err, _out, stderr) => {
        if (err) reject(new Error(`iptables-restore in ${this.ns(i)}: ${err.message} ${stderr}`));
        else resolve();
      });
      child.stdin?.end(input);
    });
  }

  /** The rules currently in host i, for the record. */
  rules(i: number): string {
    return execFileSync('ip', ['netns', 'exec', this.ns(i), 'iptables', '-S'], { encoding: 'utf8', timeout: 15_000 });
  }

  /**
   * Host `to` stops hearing host `from` (packets from `from` are dropped on the way in and out), or
   * loses a share `probability` of them. Takes effect at `commit()`.
   */
  dropFrom(to: number, from: number, probability?: number): void {
    if (probability !== undefined) {
      // Random loss: one rule only (two would compound), on the receiving side.
      this.rule(to, `-A INPUT -s ${this.peerAddr(from)} -m statistic --mode random --probability ${probability} -j DROP`);
      return;
    }
    // `from`'s peer traffic arrives through the proxy with `from`'s identity; drop any direct packet too.
    this.rule(to, `-A INPUT -s ${this.peerAddr(from)} -j DROP`);
    this.rule(to, `-A INPUT -s ${this.addr(from)} -j DROP`);
    // And `from` cannot send to `to`'s identity (its proxy) either.
    this.rule(from, `-A OUTPUT -d ${this.peerAddr(to)} -j DROP`);
    this.rule(from, `-A OUTPUT -d ${this.addr(to)} -j DROP`);
  }

  teardown(): void {
    teardownPlan(this.plan, this.log);
  }
}
