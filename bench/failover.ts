import { ProcessCluster, request, waitFor } from '../test/support/process-cluster';

/**
 * Failover: SIGKILL the leader of a 3-node cluster (default timeouts 150-300 ms, heartbeat 50 ms) and
 * time until the first write succeeds on a surviving node; the killed node is restarted and caught up
 * before the next round. `npm run bench:failover -- --kills 20`.
 */
function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--kills');
  const kills = i >= 0 ? Number(process.argv[i + 1]) : 20;
  const cluster = await ProcessCluster.create({ size: 3, entry: 'test/fixtures/kv-node/main.ts', secret: 'bench-failover-secret' });
  const times: number[] = [];
  try {
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    for (let k = 0; k < kills; k++) {
      const { leaderId } = await cluster.waitForLeader(30_000);
      const survivors = [...cluster.members.keys()].filter((id) => id !== leaderId);
      await cluster.kill(leaderId, 'SIGKILL');
      const t0 = performance.now();
      let n = 0;
      for (;;) {
        const id = survivors[n++ % survivors.length];
        try {
          const r = await request(`${cluster.url(id)}/kv/failover`, { method: 'PUT', body: { value: String(k) }, timeoutMs: 300 });
          if (r.status === 200) break;
        } catch {
          // no answer in time: try the other node
        }
        if (performance.now() - t0 > 30_000) throw new Error('no write succeeded within 30 s');
      }
      const ms = performance.now() - t0;
      times.push(ms);
      console.log(`kill ${k + 1}/${kills}: ${leaderId} killed, first write after ${ms.toFixed(0)} ms`);
      cluster.start(leaderId);
      await waitFor(`${leaderId} to catch up`, async () => {
        const [s, all] = [await cluster.status(leaderId), await Promise.all(survivors.map((id) => cluster.status(id)))];
        return s.lastApplied >= Math.max(...all.map((a) => a.commitIndex)) && s.leaderId !== null;
      }, 30_000);
    }
  } finally {
    await cluster.stopAll();
  }
  const sorted = times.slice().sort((a, b) => a - b);
  console.log(`failover over ${times.length} kills: p50 ${pct(sorted, 50).toFixed(0)} ms, p99 ${pct(sorted, 99).toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
