import * as http from 'node:http';
import { ProcessCluster, waitFor } from '../test/support/process-cluster';

/**
 * Replicated commands over HTTP against a local 3-node cluster of the order app: `PUT /products/:id`
 * (one `@Replicated` command through the Raft log, durable on a majority before the answer), at
 * concurrency 1, 16, 64 and 256, sent to the leader and to a follower (which forwards to the leader).
 *
 *   npm run bench -- [--seconds 10] [--concurrency 1,16,64,256] [--targets leader,follower]
 */
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface Round {
  target: string;
  concurrency: number;
  ok: number;
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
}

function put(agent: http.Agent, base: string, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: 'PUT', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function round(base: string, target: string, concurrency: number, seconds: number): Promise<Round> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let n = 0;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await put(agent, base, `/products/bench-${w % 64}`, JSON.stringify({ stock: n++ % 1000, name: 'bench' }));
          if (status === 200) latencies.push(performance.now() - t0);
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { target, concurrency, ok: latencies.length, failed, seconds: elapsed, p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '10'));
  const levels = arg('concurrency', '1,16,64,256').split(',').map(Number);
  const targets = arg('targets', 'leader,follower').split(',');
  const cluster = await ProcessCluster.create({ size: 3, entry: 'apps/order/src/main.ts', secret: 'bench-commands-secret' });
  const rows: Round[] = [];
  try {
    cluster.startAll();
    const { leaderId } = await cluster.waitForLeader(30_000);
    const followerId = [...cluster.members.keys()].find((id) => id !== leaderId)!;
    await waitFor('the follower to know the leader', async () => (await cluster.status(followerId)).leaderId === leaderId, 10_000);
    // Warm up the code paths (JIT, connections) before measuring.
    await round(cluster.url(leaderId), 'warmup', 16, 2);
    for (const target of targets) {
      const base = cluster.url(target === 'leader' ? leaderId : followerId);
      for (const c of levels) {
        const r = await round(base, target, c, seconds);
        rows.push(r);
        console.log(`${target.padEnd(8)} c=${String(c).padStart(3)}  ${(r.ok / r.seconds).toFixed(0).padStart(6)} commands/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  (${r.ok} ok, ${r.failed} failed)`);
      }
    }
    if ((await cluster.status(leaderId)).leaderId !== leaderId) console.log('note: leadership changed during the run; figures mix two leaders');
  } finally {
    await cluster.stopAll();
  }
  console.log('\n| sent to | concurrency | commands/s | p50 ms | p99 ms | failed |\n|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.target} | ${r.concurrency} | ${(r.ok / r.seconds).toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failed} |`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
