import { readFileSync } from 'node:fs';
import { ProcessCluster } from '../test/support/process-cluster';

/**
 * Idle cost: CPU used by each node of an idle 3-node cluster over a window (default 60 s), from
 * /proc/<pid>/stat (user + system ticks). `npm run bench:idle -- --seconds 60`.
 */
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : 60;
  const cluster = await ProcessCluster.create({ size: 3, entry: 'test/fixtures/kv-node/main.ts', secret: 'bench-idle-secret' });
  try {
    cluster.startAll();
    const { leaderId } = await cluster.waitForLeader(30_000);
    await new Promise((r) => setTimeout(r, 3000)); // start-up work (compilation, JIT) done
    const pids = [...cluster.members.entries()].map(([id, m]) => [id, m.proc!.pid!] as const);
    const before = pids.map(([, pid]) => cpuTicks(pid));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const wall = (Date.now() - t0) / 1000;
    pids.forEach(([id, pid], k) => {
      const used = (cpuTicks(pid) - before[k]) / CLK_TCK;
      console.log(`${id}${id === leaderId ? ' (leader)' : ''}: ${((used / wall) * 100).toFixed(2)}% of one core over ${wall.toFixed(0)} s`);
    });
  } finally {
    await cluster.stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
