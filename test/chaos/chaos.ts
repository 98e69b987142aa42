/**
 * One chaos run: hosts (network namespaces), node processes of the order and chat apps, proxies on
 * the peer links, clients, the nemesis, the final heal and the verdicts, then the report. Everything
 * it creates is removed at the end, on failure, and on SIGINT / SIGTERM (see `installSignalCleanup`).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '@raft-cqrs/raft/testing';
import { buildApps } from './build';
import { checkChat, checkDigests, checkLinearizable, checkNoCrash, checkOrders, checkStreams, status, Verdict, waitConverged } from './checks';
import { call, defaultAgent, json, sleep } from './http';
import { Clock, Op } from './history';
import { checkPrerequisites, cleanupLeftovers, Hosts } from './hosts';
import { Nemesis, planSchedule } from './nemesis';
import { APP_PORT, AppKind, Nodes } from './nodes';
import { FaultProxy } from './proxy';
import { availability, opCounts, RunSummary, summaryText, writeReport } from './report';
import { Workload } from './workload';

export interface ChaosOptions {
  minutes: number;
  seed: number;
  /** Where chaos-results/<stamp>/ goes (default: the repository). */
  resultsRoot?: string;
  hosts?: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  ok: boolean;
  dir: string;
  summary: RunSummary;
  text: string;
}

const ROOT = path.resolve(__dirname, '../..');
const ELECTION = { min: 300, max: 600 };

type Cleanup = () => Promise<void>;
const cleanups = new Set<Cleanup>();
let signalsInstalled = false;

/** On SIGINT / SIGTERM: undo every run in progress (bounded), then exit. */
export function installSignalCleanup(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`chaos: ${sig}: cleaning up`);
      const all = [...cleanups].map((c) => c());
      void Promise.race([Promise.allSettled(all), sleep(20_000)]).then(() => process.exit(130));
    });
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const quiet = (l: string): void => {
    if (!l.startsWith('$ ')) log(l);
  };
  const n = opts.hosts ?? 3;
  checkPrerequisites(log);
  cleanupLeftovers(log);
  const dir = path.join(opts.resultsRoot ?? path.join(ROOT, 'chaos-results'), `${stamp()}-seed${opts.seed}`);
  mkdirSync(dir, { recursive: true });
  log(`chaos: seed ${opts.seed}, ${opts.minutes} min of faults, results in ${dir}`);

  const clock = new Clock();
  const notes: string[] = [
    '`tc netem` is refused by this kernel: latency, jitter (reordering across connections) and connection resets are injected by a userspace TCP proxy in front of every peer address; packet loss and partitions by iptables inside the hosts\' namespaces.',
    'Clients connect to the nodes directly from the root namespace and are never partitioned; a host fault (kill, pause) hits both its order node and its chat node; "leader" targets are the order cluster\'s leader.',
    'Membership changes (remove, wipe, re-add with JOIN) are done on the order cluster only.',
  ];
  const build = buildApps(path.join(tmpdir(), `rcq-chaos-build-${process.pid}`));
  log(`chaos: apps compiled in ${build.ms} ms to ${build.dir}`);
  const hosts = Hosts.create(n, opts.seed, quiet);
  const nodes = new Nodes(hosts, dir, `chaos-secret-${opts.seed}-${process.pid}`, { electionTimeoutMs: `${ELECTION.min}-${ELECTION.max}`, heartbeatMs: 60, compactionThreshold: 300 }, ['order', 'chat'], path.join(tmpdir(), `rcq-chaos-data-${hosts.plan.tag}-${Date.now()}`), build);
  const nemesis = new Nemesis(hosts, nodes, clock, log);
  const proxyRng = new Rng(opts.seed ^ 0xabcdef);
  const proxies: FaultProxy[] = [];
  let workload: Workload | null = null;

  let cleaned = false;
  /** Set when the run finished with a failed verdict: the nodes' data is kept to look at. */
  let keepData = false;
  const cleanup: Cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    nemesis.abort();
    await workload?.closeStreams();
    await nodes.stopAll().catch(() => undefined);
    await Promise.all(proxies.map((p) => p.stop().catch(() => undefined)));
    defaultAgent.destroy();
    hosts.teardown();
    rmSync(build.dir, { recursive: true, force: true });
    if (!keepData) rmSync(nodes.dataRoot, { recursive: true, force: true });
  };
  cleanups.add(cleanup);

  try {
    const ipPattern = new RegExp(`^(?:::ffff:)?10\\.77\\.${hosts.plan.k}\\.(\\d+)$`);
    for (let j = 1; j <= n; j++) {
      for (const app of ['order', 'chat'] as AppKind[]) {
        const p = new FaultProxy({
          listenHost: hosts.peerAddr(j),
          listenPort: APP_PORT[app],
          targetHost: hosts.addr(j),
          targetPort: APP_PORT[app],
          dst: j,
          sourceOf: (addr) => {
            const m = ipPattern.exec(addr);
            const last = m === null ? NaN : Number(m[1]);
            return last >= 1 && last <= n ? last : null;
          },
          bindFor: (src) => hosts.peerAddr(src),
          fault: (src, dst) => nemesis.linkFault(src, dst),
          random: () => proxyRng.next(),
        });
        await p.start();
        proxies.push(p);
      }
    }
    for (const node of nodes.all) nodes.start(node);
    const orderUrls = Array.from({ length: n }, (_, k) => nodes.clientUrl('order', k + 1));
    const chatUrls = Array.from({ length: n }, (_, k) => nodes.clientUrl('chat', k + 1));
    const boot = await Promise.all([waitConverged(orderUrls, 90_000), waitConverged(chatUrls, 90_000)]);
    if (!boot[0].ok || !boot[1].ok) throw new Error(`chaos: the clusters did not start within 90 s (order ${boot[0].ok}, chat ${boot[1].ok}); see ${dir}/logs`);
    log(`chaos: clusters up at ${Math.round(clock.now())} ms`);

    const faultMs = Math.round(opts.minutes * 60_000);
    const windowMs = 10_000;
    const recoveryMs = 8_000;
    workload = new Workload(
      {
        hosts: n,
        orderClientsPerHost: 3,
        windowMs,
        productsPerWindow: 5,
        windows: Math.ceil((faultMs + recoveryMs + 2000) / windowMs) + 1,
        paceMs: 30,
        requestTimeoutMs: 1500,
        writeDeadlineMs: 8000,
        chat: true,
        chatPaceMs: 80,
      },
      nodes,
      clock,
      new Rng(opts.seed),
      `s${opts.seed}p${process.pid}`,
    );
    await workload.createProducts();
    log(`chaos: ${workload.products.length} products created at ${Math.round(clock.now())} ms`);
    workload.start();
    await sleep(1500);

    const schedule = planSchedule(opts.seed, { totalMs: faultMs, electionTimeoutMaxMs: ELECTION.max });
    const faultsEnd = clock.now() + faultMs;
    await nemesis.run(schedule, faultsEnd);
    await nemesis.heal();
    const healAt = clock.now();
    log(`chaos: faults over (${nemesis.faults.length}), healed at ${Math.round(healAt)} ms`);

    // Recovery: every process answering, then a leader and a write through every node.
    const live = await waitLive([...orderUrls, ...chatUrls], 60_000);
    const liveAt = clock.now();
    const perNode: Record<string, number | null> = {};
    let leaderMs: number | null = null;
    const leaderWait = async (): Promise<void> => {
      for (; clock.now() - liveAt < 15_000; ) {
        const all = await Promise.all(orderUrls.map((u) => status(u, 800)));
        const leader = all.find((s) => s?.isLeader) ?? undefined;
        if (leader && all.every((s) => s !== null && s.leaderId === leader.memberId)) {
          leaderMs = Math.round(clock.now() - liveAt);
          return;
        }
        await sleep(50);
      }
    };
    const writeWait = async (u: string, k: number): Promise<void> => {
      const id = `o${k + 1}`;
      perNode[id] = null;
      for (let i = 0; clock.now() - liveAt < 15_000; i++) {
        const a = await call(`${u}/products/heal-probe-${k + 1}`, { method: 'PUT', body: { stock: i }, timeoutMs: 1000 });
        if (a.status === 200) {
          perNode[id] = Math.round(clock.now() - liveAt);
          return;
        }
        await sleep(100);
      }
    };
    await Promise.all([leaderWait(), ...orderUrls.map((u, k) => writeWait(u, k))]);
    const writesMs = Object.values(perNode).every((v) => v !== null) ? (Object.values(perNode) as number[]).reduce((a, b) => Math.max(a, b), 0) : null;
    const remaining = recoveryMs - (clock.now() - healAt);
    if (remaining > 0) await sleep(remaining);
    await workload.stop();
    log(`chaos: clients stopped at ${Math.round(clock.now())} ms, ${workload.ops.length} operations`);

    const conv = await Promise.all([waitConverged(orderUrls, 30_000), waitConverged(chatUrls, 30_000)]);
    // Final linearizable reads of every product, judged with the rest.
    const touched = [...new Set(workload.ops.filter((o) => o.product !== undefined).map((o) => o.product as string))];
    const finalOps: Op[] = [];
    for (let i = 0; i < touched.length; i++) {
      const op: Op = { id: workload.ops.length + finalOps.length, client: -1, host: 1 + (i % n), kind: 'read', product: touched[i], outcome: 'unknown', invoke: clock.now(), complete: null, attempts: 0, tried: [], lastStatus: 0 };
      await workload.read(op, false);
      finalOps.push(op);
    }
    const ops = [...workload.ops, ...finalOps];
    const failedFinalReads = finalOps.filter((o) => o.outcome !== 'ok').length;

    const verdicts: Verdict[] = [];
    verdicts.push({
      name: 'a leader and writes through every node within 5 s of healing',
      ok: live && leaderMs !== null && leaderMs <= 5000 && writesMs !== null && writesMs <= 5000,
      summary: `processes live ${Math.round(liveAt - healAt)} ms after the heal; leader after ${leaderMs ?? 'never'} ms, writes through every node after ${writesMs ?? 'never'} ms`,
      problems: live ? [] : ['not every process answered /health/live within 60 s of the final heal'],
    });
    verdicts.push({
      name: 'order and chat clusters converge after healing',
      ok: conv[0].ok && conv[1].ok,
      summary: `order ${conv[0].ok ? `converged in ${conv[0].ms} ms at commit ${conv[0].statuses[0]?.commitIndex}` : 'did NOT converge in 30 s'}, chat ${conv[1].ok ? `converged in ${conv[1].ms} ms at commit ${conv[1].statuses[0]?.commitIndex}` : 'did NOT converge in 30 s'}`,
      problems: [conv[0], conv[1]].filter((c) => !c.ok).map((c) => JSON.stringify(c.statuses.map((s) => s && { id: s.memberId, leader: s.leaderId, term: s.term, commit: s.commitIndex, applied: s.lastApplied }))),
    });
    verdicts.push(checkLinearizable(ops, Math.max(30_000, opts.minutes * 20_000)));
    if (failedFinalReads > 0) verdicts[verdicts.length - 1].problems.push(`${failedFinalReads} final linearizable reads got no answer`);
    if (failedFinalReads > 0) verdicts[verdicts.length - 1].ok = false;
    const orderChecks = await checkOrders(ops, nodes.all.filter((x) => x.app === 'order'), (x) => nodes.clientUrl('order', x.host));
    verdicts.push(orderChecks.lost, orderChecks.oversold, orderChecks.equal);
    const finalStatus = await Promise.all([Promise.all(orderUrls.map((u) => status(u))), Promise.all(chatUrls.map((u) => status(u)))]);
    verdicts.push(checkDigests('order', finalStatus[0]), checkDigests('chat', finalStatus[1]));
    const chat = await checkChat(ops, nodes.all.filter((x) => x.app === 'chat'), (x) => nodes.clientUrl('chat', x.host));
    verdicts.push(chat.logs);
    for (let i = 0; i < 100 && workload.streams.some((s) => s.events.length < chat.log.length); i++) await sleep(200);
    await workload.closeStreams();
    verdicts.push(checkStreams(workload.streams, chat.log));
    verdicts.push(checkNoCrash(nodes.all));
    const actionProblems = nemesis.faults.filter((f) => f.kind === 'membership-under-loss' || f.kind === 'transfer-under-latency').flatMap((f) => f.problems.map((p) => `${f.kind} at ${(f.start / 1000).toFixed(1)} s: ${p}`));
    const actions = nemesis.faults.filter((f) => f.kind === 'membership-under-loss' || f.kind === 'transfer-under-latency').length;
    verdicts.push({ name: 'membership changes and leadership transfers complete during faults', ok: actionProblems.length === 0, summary: `${actions} faults with administrative actions`, problems: actionProblems });
    const answerMismatch = ops.filter((o) => o.error?.startsWith('answer'));
    verdicts.push({ name: 'answers match requests', ok: answerMismatch.length === 0, summary: `${answerMismatch.length} answers for another request`, problems: answerMismatch.slice(0, 10).map((o) => `op #${o.id}: ${o.error}`) });

    const faultCounts: Record<string, number> = {};
    for (const f of nemesis.faults) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
    const summary: RunSummary = {
      seed: opts.seed,
      minutes: opts.minutes,
      dir,
      startedAt: new Date(clock.wallStart).toISOString(),
      durationMs: Math.round(clock.now()),
      ops: opCounts(ops),
      totalOps: ops.length,
      faults: faultCounts,
      faultProblems: nemesis.faults.flatMap((f) => f.problems.map((p) => `${f.kind} at ${(f.start / 1000).toFixed(1)} s: ${p}`)),
      availability: availability(ops, nemesis.faults),
      verdicts,
      recovery: { healToLiveMs: Math.round(liveAt - healAt), liveToLeaderMs: leaderMs, liveToWritesMs: writesMs, perNode },
      notes: [...notes, `proxies: ${proxies.reduce((a, p) => a + p.connections, 0)} peer connections, ${proxies.reduce((a, p) => a + p.resets, 0)} reset by the nemesis`],
      ok: verdicts.every((v) => v.ok),
    };
    // The nodes' data folders are kept only when something failed (to look at); logs always.
    await nodes.stopAll().catch(() => undefined);
    keepData = !summary.ok;
    if (keepData) summary.notes.push(`the nodes' data folders are kept in ${nodes.dataRoot}`);
    writeReport(dir, summary, ops, nemesis.faults);
    const text = summaryText(summary);
    return { ok: summary.ok, dir, summary, text };
  } finally {
    await cleanup();
    cleanups.delete(cleanup);
  }
}

async function waitLive(urls: string[], timeoutMs: number): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const answers = await Promise.all(urls.map((u) => call(`${u}/health/live`, { timeoutMs: 1000 })));
    if (answers.every((a) => a.status === 200)) return true;
    await sleep(100);
  }
  return false;
}

export { json };
