import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { destroyStatusAgent, etcdVersion } from './compare/etcd';
import { FailoverResult, measureFailover } from './compare/failover';
import { LoadResult, runLoad } from './compare/load';
import { markdown, renderChart, summarise } from './compare/report';
import { cpuSeconds, EtcdSystem, ETCD_PATHS, OURS_PATHS, OursSystem, RAW_PATHS, System } from './compare/systems';
import type { CpuPerPut, SystemRun } from './compare/types';

/**
 * Issue 7: ours against etcd 3.4 on the same machine, in one run.
 *
 *   npm run bench:compare -- [--seconds 10] [--warmup 2] [--rounds 3] [--concurrency 1,16,64,256]
 *     [--paths ours-leader,ours-follower,etcd-gateway,etcd-gateway-follower,etcd-grpc]
 *     (diagnostic extra paths: ours-raw-leader,ours-raw-follower = test/fixtures/kv-node, no CQRS bus)
 *     [--kills 10] [--attempt-interval 20] [--attempt-timeout 2000] [--etcd-tuned 50/300] [--no-failover] [--no-load]
 *     [--no-chart] [--dev] [--out bench/results] [--cpu-prof DIR]
 *
 * One system at a time (each round starts a fresh cluster of each, in temp folders, and stops it
 * before the other starts); the order alternates per round (A B, B A, ...) so drift cancels. Figures
 * are the median over rounds; ratios ours/etcd are taken within each round, then the median.
 * `--dev` names the results dev-<date>.* (short runs on a busy machine are not results).
 * `--cpu-prof DIR` runs our nodes with node --cpu-prof (one .cpuprofile per node and run, written at
 * SIGTERM) to find hot spots; profiling slows them, so figures of such a run are not results.
 */
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const active = new Set<System>();
let stopping = false;

async function cleanup(): Promise<void> {
  for (const s of [...active]) {
    try {
      await s.stop();
    } catch {
      // best effort: the process may be gone already
    }
    active.delete(s);
  }
  destroyStatusAgent();
}

function onSignal(sig: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  console.error(`\n${sig}: stopping every cluster member and removing temp folders`);
  void cleanup().finally(() => process.exit(130));
}

const load = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);
const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');

async function runSystem(system: System, round: number, paths: string[], levels: number[], warmup: number, seconds: number): Promise<SystemRun> {
  const loadBefore = load();
  console.log(`round ${round + 1} ${system.kind}: starting ${system.label}; load average ${fmtLoad(loadBefore)}`);
  active.add(system);
  const rows: SystemRun['rows'] = [];
  try {
    await system.start();
    for (const p of system.paths().filter((x) => paths.includes(x))) {
      for (const c of levels) {
        const leaderBefore = await system.leader();
        const driver = await system.driver(p, c);
        const procs = system.processes();
        const cpu0 = procs.map((x) => cpuSeconds(x.pid));
        const client0 = process.cpuUsage();
        let r: LoadResult;
        try {
          r = await runLoad(driver, c, warmup, seconds, `r${round}-${p}-c${c}`);
        } finally {
          await driver.close();
        }
        const client = process.cpuUsage(client0);
        const used = procs.map((x, i) => cpuSeconds(x.pid) - cpu0[i]);
        const serverCpu = used.reduce((a, b) => a + b, 0);
        const leaderAfter = await system.leader();
        const perPut = (s: number): number => (s * 1000) / Math.max(1, r.totalOk);
        const leaderAt = procs.findIndex((x) => x.id === leaderBefore);
        const cpuMsPerPut: CpuPerPut = {
          leader: leaderAt >= 0 ? perPut(used[leaderAt]) : NaN,
          followers: used.filter((_, i) => i !== leaderAt).map(perPut),
          client: perPut((client.user + client.system) / 1e6),
          cluster: perPut(serverCpu),
        };
        const row = { ...r, round, member: p.endsWith('follower') ? 'follower' : 'leader', leaderChanged: leaderAfter !== leaderBefore, serverCpuSeconds: serverCpu, clientCpuSeconds: (client.user + client.system) / 1e6, cpuMsPerPut };
        rows.push(row);
        const errs = Object.entries(r.errors).map(([m, n]) => `${n}x ${m}`).join('; ');
        const ms = (x: number): string => x.toFixed(3);
        console.log(
          `  ${p.padEnd(22)} c=${String(c).padStart(3)}  ${r.throughput.toFixed(0).padStart(6)} puts/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ` +
            `failed ${r.failed}  cpu ms/put: leader ${ms(cpuMsPerPut.leader)} followers ${cpuMsPerPut.followers.map(ms).join('/')} cluster ${ms(cpuMsPerPut.cluster)} client ${ms(cpuMsPerPut.client)}` +
            `${row.leaderChanged ? '  LEADER CHANGED' : ''}${errs !== '' ? `  errors: ${errs}` : ''}`,
        );
      }
    }
  } finally {
    await system.stop();
    active.delete(system);
  }
  const loadAfter = load();
  console.log(`round ${round + 1} ${system.kind}: stopped; load average ${fmtLoad(loadAfter)}`);
  return { round, system: system.kind, label: system.label, loadBefore, loadAfter, rows };
}

async function main(): Promise<void> {
  const etcdVer = etcdVersion();
  if (etcdVer === null) {
    console.error('etcd is not on PATH. Install etcd 3.4 from Debian first:\n\n  apt-get update && apt-get install -y etcd-server etcd-client\n');
    process.exit(2);
  }
  const seconds = Number(arg('seconds', '10'));
  const warmup = Number(arg('warmup', '2'));
  const rounds = Number(arg('rounds', '3'));
  const levels = arg('concurrency', '1,16,64,256').split(',').map(Number);
  const paths = arg('paths', [...OURS_PATHS, ...ETCD_PATHS].join(',')).split(',');
  const kills = Number(arg('kills', '10'));
  const attemptTimeout = Number(arg('attempt-timeout', '2000'));
  const attemptInterval = Number(arg('attempt-interval', '20'));
  const [tunedHb, tunedEt] = arg('etcd-tuned', '50/300').split('/').map(Number);
  const dev = flag('dev');
  const cpuProfArg = arg('cpu-prof', '');
  const cpuProf = cpuProfArg !== '' ? path.resolve(cpuProfArg) : undefined;
  const outDir = path.resolve(arg('out', path.join(__dirname, 'results')));
  for (const [n, v] of Object.entries({ seconds, warmup, rounds, kills, attemptTimeout, attemptInterval, tunedHb, tunedEt })) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`bad --${n}: ${v}`);
  }
  if (levels.some((c) => !Number.isInteger(c) || c < 1 || c > 4096)) throw new Error('bad --concurrency: positive integers up to 4096, comma-separated');
  const unknown = paths.filter((p) => ![...OURS_PATHS, ...ETCD_PATHS, ...RAW_PATHS].includes(p));
  if (unknown.length > 0) throw new Error(`unknown --paths ${unknown.join(',')}; known: ${[...OURS_PATHS, ...ETCD_PATHS, ...RAW_PATHS].join(',')}`);

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startedAt = new Date();
  const machine = {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    etcd: etcdVer,
    kernel: `${os.type()} ${os.release()}`,
    tmpdir: os.tmpdir(),
    loadAverageAtStart: load(),
  };
  console.log(`bench:compare  ${seconds} s per row after ${warmup} s warm-up, ${rounds} round(s), concurrency ${levels.join(',')}, ${kills} kill(s) per failover system`);
  console.log(`machine: ${machine.nproc} CPUs (${machine.cpuModel}), node ${machine.node}, etcd ${machine.etcd}; load average at start ${fmtLoad(machine.loadAverageAtStart)}`);
  if (machine.loadAverageAtStart[0] > machine.nproc * 0.5) console.log(`WARNING: load average ${machine.loadAverageAtStart[0]} on ${machine.nproc} CPUs: the machine is busy; figures are noisy`);

  const runs: SystemRun[] = [];
  if (!flag('no-load') && rounds > 0) {
    for (let r = 0; r < rounds; r++) {
      const order: (() => System)[] = [];
      if (paths.some((p) => OURS_PATHS.includes(p))) order.push(() => new OursSystem(false, cpuProf));
      if (paths.some((p) => ETCD_PATHS.includes(p))) order.push(() => new EtcdSystem());
      if (paths.some((p) => RAW_PATHS.includes(p))) order.push(() => new OursSystem(true, cpuProf));
      if (r % 2 === 1) order.reverse();
      for (const make of order) {
        if (stopping) return;
        runs.push(await runSystem(make(), r, paths, levels, warmup, seconds));
      }
    }
  }

  const failover: FailoverResult[] = [];
  if (!flag('no-failover') && kills > 0) {
    const systems: [string, () => System][] = [
      ['ours', () => new OursSystem()],
      ['etcd-default', () => new EtcdSystem()],
      [`etcd-${tunedHb}/${tunedEt}`, () => new EtcdSystem({ heartbeatMs: tunedHb, electionMs: tunedEt })],
    ];
    for (const [name, make] of systems) {
      if (stopping) return;
      const sys = make();
      active.add(sys);
      console.log(`failover ${name}: ${sys.label}; ${kills} kill(s); load average ${fmtLoad(load())}`);
      try {
        const f = await measureFailover(sys, name, kills, attemptInterval, attemptTimeout, (s) => console.log(s), load);
        failover.push(f);
        console.log(`failover ${name}: p50 ${f.p50.toFixed(0)} ms, p99 ${f.p99.toFixed(0)} ms, min ${f.min.toFixed(0)}, max ${f.max.toFixed(0)}; load average ${fmtLoad(f.loadAfter)}`);
      } finally {
        active.delete(sys);
      }
    }
  }

  const finishedAt = new Date();
  const summary = summarise(runs, levels);
  const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const base = `${dev ? 'dev-' : ''}${stamp}`;
  const result = {
    issue: 7,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    dev,
    settings: { seconds, warmup, rounds, concurrency: levels, paths, kills, attemptIntervalMs: attemptInterval, attemptTimeoutMs: attemptTimeout, valueBytes: 100, etcdTuned: { heartbeatMs: tunedHb, electionMs: tunedEt } },
    machine: { ...machine, loadAverageAtEnd: load() },
    runs,
    summary,
    failover,
  };
  mkdirSync(outDir, { recursive: true });
  const jsonPath = path.join(outDir, `${base}.json`);
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  const md = markdown(result);
  writeFileSync(path.join(outDir, `${base}.md`), md);
  console.log(`\n${md}`);
  console.log(`results: ${path.relative(process.cwd(), jsonPath)}`);
  if (!flag('no-chart')) {
    try {
      const png = await renderChart(result, path.join(outDir, base));
      console.log(`chart: ${path.relative(process.cwd(), png)} (and .html)`);
    } catch (err) {
      console.error(`chart not rendered: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

if (require.main === module) {
  main()
    .catch(async (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exitCode = 1;
    })
    .finally(async () => {
      await cleanup();
      // etcd3's gRPC channels and stray timers must not keep the process alive.
      setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
    });
}
