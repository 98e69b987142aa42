/**
 * The nemesis: a schedule of faults drawn from the seed up front (kinds, durations, quiet gaps and
 * the random draws that pick targets), then played against the hosts. A target named "the leader" is
 * resolved when the fault starts (the order app's leader), so what is hit can differ between runs of
 * one seed; what was hit is recorded with every fault.
 *
 * Each fault is applied, held for its duration, then healed completely (iptables flushed, proxies
 * back to no fault, paused processes continued, killed processes restarted) before a quiet gap.
 */
import { Rng } from '@raft-cqrs/raft/testing';
import { call, json, sleep } from './http';
import type { Clock, Fault, FaultKind } from './history';
import type { Hosts } from './hosts';
import type { Nodes } from './nodes';
import { LinkFault, NO_FAULT } from './proxy';

export const ALL_FAULTS: FaultKind[] = [
  'partition-minority',
  'partition-leader',
  'partition-bridge',
  'oneway-leader-out',
  'oneway-leader-in',
  'kill-one',
  'kill-minority',
  'kill-all',
  'pause-leader',
  'pause-minority',
  'latency',
  'loss',
  'reorder-reset',
  'transfer-under-latency',
  'membership-under-loss',
];

export interface PlannedFault {
  kind: FaultKind;
  durationMs: number;
  quietMs: number;
  draws: number[];
}

export interface NemesisOptions {
  /** Total time of the fault phase. */
  totalMs: number;
  electionTimeoutMaxMs: number;
}

/** The deterministic schedule for a seed: rounds of every fault kind in a seeded order. */
export function planSchedule(seed: number, opts: NemesisOptions): PlannedFault[] {
  const rng = new Rng(seed ^ 0x5eed);
  const plan: PlannedFault[] = [];
  let t = 0;
  // CHAOS_FAULTS=kind,kind narrows the schedule to those kinds (to reproduce one fault's failure).
  const only = (process.env.CHAOS_FAULTS ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  for (const k of only) if (!(ALL_FAULTS as readonly string[]).includes(k)) throw new Error(`CHAOS_FAULTS: unknown fault kind ${k}; known: ${ALL_FAULTS.join(', ')}`);
  const kinds = only.length > 0 ? ALL_FAULTS.filter((k) => only.includes(k)) : [...ALL_FAULTS];
  for (let round = 0; t < opts.totalMs && round < 10_000; round++) {
    for (const kind of rng.shuffle(kinds)) {
      const pause = kind.startsWith('pause');
      // Pauses: 2-4 election timeouts. Others: long enough for elections, retries and timeouts to play out.
      const durationMs = pause ? rng.int(Math.max(2 * opts.electionTimeoutMaxMs, 1200), Math.max(4 * opts.electionTimeoutMaxMs, 2400)) : rng.int(2500, 4500);
      const quietMs = rng.int(2000, 3000);
      if (t + durationMs > opts.totalMs) return plan;
      plan.push({ kind, durationMs, quietMs, draws: Array.from({ length: 6 }, () => rng.next()) });
      t += durationMs + quietMs;
    }
  }
  return plan;
}

export class Nemesis {
  readonly faults: Fault[] = [];
  /** Link faults for the proxies, by "src>dst"; '*' applies to every link. */
  private links = new Map<string, LinkFault>();
  private aborted = false;

  constructor(
    private readonly hosts: Hosts,
    private readonly nodes: Nodes,
    private readonly clock: Clock,
    private readonly log: (line: string) => void,
  ) {}

  /** For the proxies: the fault on the link src -> dst now. */
  linkFault(src: number | null, dst: number): LinkFault {
    return (src !== null ? this.links.get(`${src}>${dst}`) : undefined) ?? this.links.get('*') ?? NO_FAULT;
  }

  abort(): void {
    this.aborted = true;
  }

  /** The order app's leader as the nodes report it (highest term wins), or null. */
  async orderLeader(): Promise<number | null> {
    const all = await Promise.all(
      Array.from({ length: this.hosts.size }, async (_, k) => {
        const a = await call(`${this.nodes.clientUrl('order', k + 1)}/cluster/status`, { timeoutMs: 700 });
        const s = a.status === 200 ? json<{ isLeader: boolean; term: number }>(a) : null;
        return s !== null && s.isLeader ? { host: k + 1, term: s.term } : null;
      }),
    );
    const leaders = all.filter((x): x is { host: number; term: number } => x !== null).sort((a, b) => b.term - a.term);
    return leaders[0]?.host ?? null;
  }

  private hostsList(): number[] {
    return Array.from({ length: this.hosts.size }, (_, k) => k + 1);
  }

  private pickHost(draw: number, except: number[] = []): number {
    const pool = this.hostsList().filter((h) => !except.includes(h));
    return pool[Math.floor(draw * pool.length)];
  }

  async run(plan: PlannedFault[], until: number): Promise<void> {
    for (const p of plan) {
      if (this.aborted || this.clock.now() + p.durationMs > until) break;
      await this.one(p);
      if (this.aborted) break;
      await sleep(Math.max(0, Math.min(p.quietMs, until - this.clock.now())));
    }
  }

  private async one(p: PlannedFault): Promise<void> {
    const fault: Fault = { kind: p.kind, start: this.clock.now(), applied: 0, end: 0, targets: [], detail: '', problems: [] };
    this.faults.push(fault);
    const minority = Math.floor((this.hosts.size - 1) / 2);
    const d = p.draws;
    let during: Promise<void> = Promise.resolve();
    try {
      switch (p.kind) {
        case 'partition-minority': {
          const group: number[] = [];
          for (let k = 0; k < minority; k++) group.push(this.pickHost(d[k], group));
          this.isolate(group);
          fault.targets = group;
          fault.detail = `hosts ${group.join(',')} cut off from the rest`;
          break;
        }
        case 'partition-leader': {
          const leader = (await this.orderLeader()) ?? this.pickHost(d[0]);
          this.isolate([leader]);
          fault.targets = [leader];
          fault.detail = `leader host ${leader} alone`;
          break;
        }
        case 'partition-bridge': {
          const order = this.hostsList().sort((a, b) => d[a % d.length] - d[b % d.length]);
          const [a, bridge, c] = order;
          this.hosts.dropFrom(a, c);
          this.hosts.dropFrom(c, a);
          fault.targets = [a, bridge, c];
          fault.detail = `${a} and ${c} cut, ${bridge} sees both`;
          break;
        }
        case 'oneway-leader-out':
        case 'oneway-leader-in': {
          const leader = (await this.orderLeader()) ?? this.pickHost(d[0]);
          for (const other of this.hostsList().filter((h) => h !== leader)) {
            if (p.kind === 'oneway-leader-out') this.hosts.dropFrom(other, leader);
            else this.hosts.dropFrom(leader, other);
          }
          fault.targets = [leader];
          fault.detail = p.kind === 'oneway-leader-out' ? `leader host ${leader}'s packets to the others dropped` : `packets to leader host ${leader} dropped`;
          break;
        }
        case 'kill-one':
        case 'kill-minority':
        case 'kill-all': {
          let targets: number[];
          if (p.kind === 'kill-all') targets = this.hostsList();
          else if (p.kind === 'kill-one') targets = [this.pickHost(d[0])];
          else {
            const leader = (await this.orderLeader()) ?? this.pickHost(d[0]);
            targets = [leader];
            for (let k = 1; k < minority; k++) targets.push(this.pickHost(d[k], targets));
          }
          await Promise.all(targets.flatMap((h) => this.nodes.onHost(h).map((n) => this.nodes.kill(n))));
          fault.targets = targets;
          fault.detail = `SIGKILL hosts ${targets.join(',')}, restarted at the end`;
          break;
        }
        case 'pause-leader':
        case 'pause-minority': {
          let targets: number[];
          if (p.kind === 'pause-leader') targets = [(await this.orderLeader()) ?? this.pickHost(d[0])];
          else {
            targets = [];
            for (let k = 0; k < Math.max(1, minority); k++) targets.push(this.pickHost(d[k + 1], targets));
          }
          for (const h of targets) for (const n of this.nodes.onHost(h)) this.nodes.pause(n);
          fault.targets = targets;
          fault.detail = `SIGSTOP hosts ${targets.join(',')} for ${p.durationMs} ms`;
          break;
        }
        case 'latency': {
          const delayMs = 40 + Math.floor(d[0] * 120);
          this.links.set('*', { delayMs, jitterMs: 40, resetProbability: 0 });
          fault.detail = `every peer link +${delayMs} ms (jitter 40 ms) through the proxies`;
          break;
        }
        case 'loss': {
          const pct = 10 + Math.floor(d[0] * 15);
          for (const a of this.hostsList()) for (const b of this.hostsList()) if (a !== b) this.hosts.dropFrom(a, b, pct / 100);
          fault.detail = `${pct}% random packet loss on every peer link (iptables statistic)`;
          break;
        }
        case 'reorder-reset': {
          this.links.set('*', { delayMs: 0, jitterMs: 120, resetProbability: 0.01 });
          fault.detail = 'proxies: 0-120 ms jitter per chunk (reorders across connections), 1% of chunks reset their connection';
          break;
        }
        case 'transfer-under-latency': {
          this.links.set('*', { delayMs: 30, jitterMs: 30, resetProbability: 0 });
          during = this.transfers(fault);
          fault.detail = 'every peer link +30 ms (jitter 30); leadership transfers of the order and chat clusters';
          break;
        }
        case 'membership-under-loss': {
          for (const a of this.hostsList()) for (const b of this.hostsList()) if (a !== b) this.hosts.dropFrom(a, b, 0.05);
          const leader = (await this.orderLeader()) ?? 1;
          const x = this.pickHost(d[0], [leader]);
          fault.targets = [x];
          during = this.reAdd(fault, x, leader);
          fault.detail = `5% loss; order node o${x} removed (DELETE /cluster/members/o${x}), wiped, restarted with JOIN`;
          break;
        }
        default:
          fault.problems.push(`unknown fault kind ${String(p.kind)}`);
      }
      await this.hosts.commit();
    } catch (err) {
      fault.problems.push(`applying: ${(err as Error).message}`);
    }
    fault.applied = this.clock.now();
    this.log(`nemesis: ${p.kind} ${fault.detail}`);
    await sleep(p.durationMs);
    await during;
    const restarted = this.nodes.all.filter((n) => n.proc === null).length;
    await this.heal();
    fault.end = this.clock.now();
    if (restarted > 0) {
      // The next fault waits for the restarted processes to answer (bounded): a fault on a booting
      // cluster would be charged to the wrong kind in the availability figures.
      const ms = await this.waitLive(30_000);
      fault.detail += ms === null ? '; restarted processes not answering after 30 s' : `; restarted processes answering ${ms} ms after the heal`;
      if (ms === null) fault.problems.push('restarted processes did not answer /health/live within 30 s');
    }
  }

  /** Waits until every node process answers /health/live; ms it took, or null after `timeoutMs`. */
  async waitLive(timeoutMs: number): Promise<number | null> {
    const started = this.clock.now();
    while (this.clock.now() - started < timeoutMs && !this.aborted) {
      const answers = await Promise.all(this.nodes.all.map((n) => call(`${this.nodes.clientUrl(n.app, n.host)}/health/live`, { timeoutMs: 1000 })));
      if (answers.every((a) => a.status === 200)) return Math.round(this.clock.now() - started);
      await sleep(100);
    }
    return null;
  }

  /** Cuts `group` off from every other host, both ways. */
  private isolate(group: number[]): void {
    for (const a of group) {
      for (const b of this.hostsList().filter((h) => !group.includes(h))) {
        this.hosts.dropFrom(a, b);
        this.hosts.dropFrom(b, a);
      }
    }
  }

  /** A leadership transfer of each cluster, asked of a follower or the leader; up to 3 tries, as an operator would. */
  private async transfers(fault: Fault): Promise<void> {
    for (const app of ['order', 'chat'] as const) {
      const refusals: string[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const started = this.clock.now();
        const a = await call(`${this.nodes.clientUrl(app, attempt)}/cluster/leadership-transfer`, { method: 'POST', body: {}, headers: this.nodes.adminHeaders(), timeoutMs: 5000 });
        const took = Math.round(this.clock.now() - started);
        const body = json(a);
        if (a.status === 200) {
          fault.detail += `; ${app}: ${String(body?.previousLeaderId)} -> ${String(body?.leaderId)} in ${took} ms${refusals.length ? ` (after ${refusals.length} refusals: ${refusals.join(' | ')})` : ''}`;
          break;
        }
        refusals.push(`${a.status || a.error} ${a.body.slice(0, 200)}`);
        if (attempt === 3) fault.problems.push(`${app} leadership transfer refused 3 times: ${refusals.join(' | ')}`);
        await sleep(300);
      }
    }
  }

  /** Membership change: remove order node x, give it a fresh disk, re-add it with JOIN. */
  private async reAdd(fault: Fault, x: number, leader: number): Promise<void> {
    const n = this.nodes.node('order', x);
    const id = n.id;
    let removed = false;
    for (let attempt = 0; attempt < 10 && !removed; attempt++) {
      const a = await call(`${this.nodes.clientUrl('order', leader)}/cluster/members/${id}`, { method: 'DELETE', headers: this.nodes.adminHeaders(), timeoutMs: 3000 });
      if (a.status === 200) removed = true;
      else {
        if (attempt === 9) fault.problems.push(`DELETE /cluster/members/${id} answered ${a.status || a.error} ${a.body.slice(0, 200)}`);
        await sleep(300);
      }
    }
    if (!removed) return;
    await this.nodes.kill(n);
    this.nodes.wipe(n);
    n.join = this.nodes.peerUrl('order', leader);
    this.nodes.start(n);
    // It joins as a learner and is promoted once caught up; wait (bounded) for it to be a voter again.
    const deadline = this.clock.now() + 30_000;
    while (this.clock.now() < deadline && !this.aborted) {
      const a = await call(`${this.nodes.clientUrl('order', leader)}/cluster/status`, { timeoutMs: 1000 });
      const s = json<{ members: { id: string; voter: boolean }[] }>(a);
      if (s?.members?.some((m) => m.id === id && m.voter)) {
        fault.detail += `; o${x} voter again after ${Math.round(this.clock.now() - fault.start)} ms`;
        return;
      }
      await sleep(250);
    }
    fault.problems.push(`o${x} was not a voter again within 30 s of being re-added`);
  }

  /** Removes every fault: iptables rules, proxy faults, pauses; restarts every dead process. */
  async heal(): Promise<void> {
    this.links = new Map();
    try {
      await this.hosts.flushAll();
    } catch (err) {
      this.log(`nemesis: flushing iptables: ${(err as Error).message}`);
      await this.hosts.flushAll();
    }
    for (const n of this.nodes.all) {
      if (n.paused) this.nodes.resume(n);
      if (n.proc === null) this.nodes.start(n);
    }
  }
}
