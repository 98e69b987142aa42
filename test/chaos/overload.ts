/**
 * Overload of a 3-node order-app cluster on loopback: first the throughput it sustains (closed loop,
 * a few seconds), then an open-loop offered load of `factor` times that for `seconds`, then the
 * throughput again once the load is gone. Meanwhile /health/live and /cluster/status of every node
 * are probed twice a second, and each node's peak RSS (VmHWM) is read from /proc.
 *
 * `node -r @swc-node/register test/chaos/overload.ts [--seconds 20] [--factor 10]` prints the figures;
 * test/chaos/overload.spec.ts asserts on them.
 */
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { ProcessCluster } from '../support/process-cluster';
import { atMost, call, sleep } from './http';
import { ProbeFigures, startProber } from './prober';

export interface OverloadOptions {
  seconds: number;
  factor: number;
  measureSeconds: number;
  /** Most requests the generator keeps in flight; beyond it an offered request is not sent (counted). */
  maxInFlight: number;
  log?: (line: string) => void;
}

export interface PhaseFigures {
  seconds: number;
  ok: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface OverloadFigures {
  sustainable: PhaseFigures;
  offeredPerSecond: number;
  sentPerSecond: number;
  /** Offered but not sent: the generator's own in-flight bound was reached. */
  notSent: number;
  statuses: Record<string, number>;
  shed503: number;
  shed503WithoutRetryAfter: number;
  acceptedDuringOverload: PhaseFigures;
  after: PhaseFigures;
  probes: ProbeFigures;
  peakRssMb: Record<string, number>;
  rssBeforeMb: Record<string, number>;
  durationsMs: number;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}

function phase(latencies: number[], seconds: number): PhaseFigures {
  return { seconds, ok: latencies.length, perSecond: Math.round(latencies.length / seconds), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

function memKb(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number {
  if (pid === undefined) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function runOverload(opts: OverloadOptions): Promise<OverloadFigures> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const started = Date.now();
  const cluster = await ProcessCluster.create({ size: 3, entry: 'apps/order/src/main.ts', secret: 'overload-secret-0123456789', env: { ELECTION_TIMEOUT_MS: '500-1000', HEARTBEAT_MS: '100' } });
  // Enough sockets that the generator never queues requests itself: every request in flight is at a node.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.ceil(opts.maxInFlight / 3) + 64 });
  try {
    cluster.startAll();
    await cluster.waitForLeader(60_000);
    const urls = [...cluster.members.keys()].map((id) => cluster.url(id));
    const pids = Object.fromEntries([...cluster.members.values()].map((m) => [m.id, m.proc?.pid]));
    for (let p = 0; p < 50; p++) {
      const a = await call(`${urls[p % 3]}/products/ov-${p}`, { method: 'PUT', body: { stock: 1 }, timeoutMs: 10_000, agent });
      if (a.status !== 200) throw new Error(`overload: creating products: ${a.status || a.error} ${a.body.slice(0, 200)}`);
    }
    let n = 0;
    const put = (): Promise<{ status: number; ms: number; retryAfter: boolean; error: string | null }> => {
      const i = n++;
      return call(`${urls[i % 3]}/products/ov-${i % 50}`, { method: 'PUT', body: { stock: i % 1000 }, timeoutMs: 10_000, agent }).then((a) => ({
        status: a.status,
        ms: a.ms,
        retryAfter: a.headers['retry-after'] !== undefined,
        error: a.error,
      }));
    };

    /** Closed loop at concurrency 32 for `seconds`: what the cluster sustains. */
    const closedLoop = async (seconds: number): Promise<PhaseFigures> => {
      const lat: number[] = [];
      const until = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (Date.now() < until) {
            const r = await put();
            if (r.status === 200) lat.push(r.ms);
            else await sleep(20);
          }
        }),
      );
      return phase(lat, seconds);
    };

    const rssBeforeMb = Object.fromEntries(Object.entries(pids).map(([id, pid]) => [id, Math.round(memKb(pid, 'VmRSS') / 1024)]));
    const sustainable = await closedLoop(opts.measureSeconds);
    log(`overload: sustainable ${sustainable.perSecond}/s (p50 ${sustainable.p50Ms} ms, p99 ${sustainable.p99Ms} ms)`);

    // Probes of health and status every 500 ms on every node, for the whole overload and after, from
    // their own thread: the generator's event loop is saturated by its own thousands of requests, and a
    // probe timed there measured the generator's lag as much as the node's (an orchestrator's probe
    // comes from another process too).
    const prober = startProber(urls, ['/health/live', '/cluster/status']);

    const offeredPerSecond = Math.max(100, sustainable.perSecond * opts.factor);
    const statuses: Record<string, number> = {};
    const accepted: number[] = [];
    let shed503 = 0;
    let shedNoRetry = 0;
    let inFlight = 0;
    let sent = 0;
    let notSent = 0;
    const pending: Promise<void>[] = [];
    const tickMs = 10;
    const loadStart = Date.now();
    const loadEnd = loadStart + opts.seconds * 1000;
    let offered = 0;
    while (Date.now() < loadEnd) {
      // From the time actually elapsed: a late timer (busy event loop) must not lower the offered rate.
      const due = Math.floor((offeredPerSecond * (Date.now() - loadStart)) / 1000);
      for (; offered < due; offered++) {
        if (inFlight >= opts.maxInFlight) {
          notSent++;
          continue;
        }
        inFlight++;
        sent++;
        const p = put().then((r) => {
          inFlight--;
          const key = r.status === 0 ? `error ${r.error}` : String(r.status);
          statuses[key] = (statuses[key] ?? 0) + 1;
          if (r.status === 200) accepted.push(r.ms);
          if (r.status === 503) {
            shed503++;
            if (!r.retryAfter) shedNoRetry++;
          }
        });
        if (pending.length < 200_000) pending.push(p);
      }
      await sleep(tickMs);
    }
    const loadSeconds = (Date.now() - loadStart) / 1000;
    await atMost(Promise.all(pending), 15_000);
    log(`overload: offered ${offeredPerSecond}/s for ${loadSeconds.toFixed(1)} s, sent ${Math.round(sent / loadSeconds)}/s, not sent ${notSent}; answers ${JSON.stringify(statuses)}`);
    const peakRssMb = Object.fromEntries(Object.entries(pids).map(([id, pid]) => [id, Math.round(memKb(pid, 'VmHWM') / 1024)]));
    await sleep(3000);
    const after = await closedLoop(opts.measureSeconds);
    const probes = await prober.stop();
    log(`overload: after the load ${after.perSecond}/s; peak RSS ${JSON.stringify(peakRssMb)} MB; probes ${JSON.stringify(probes)}`);
    return {
      sustainable,
      offeredPerSecond,
      sentPerSecond: Math.round(sent / loadSeconds),
      notSent,
      statuses,
      shed503,
      shed503WithoutRetryAfter: shedNoRetry,
      acceptedDuringOverload: phase(accepted, loadSeconds),
      after,
      probes,
      peakRssMb,
      rssBeforeMb,
      durationsMs: Date.now() - started,
    };
  } finally {
    agent.destroy();
    await cluster.stopAll();
  }
}

if (require.main === module) {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  runOverload({ seconds: arg('seconds', 20), factor: arg('factor', 10), measureSeconds: arg('measure', 4), maxInFlight: arg('in-flight', 9000) })
    .then((f) => {
      console.log(JSON.stringify(f, null, 2));
      process.exit(0);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(2);
    });
}
