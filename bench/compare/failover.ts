import { pct } from './load';
import type { System } from './systems';

export interface FailoverResult {
  system: string;
  label: string;
  kills: number;
  /** ms from the killed leader's exit to the first acknowledged write on a survivor, per kill. */
  times: number[];
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
  attemptIntervalMs: number;
  attemptTimeoutMs: number;
  loadBefore: number[];
  loadAfter: number[];
  notes: string[];
}

/**
 * A client after the kill: every `intervalMs` it starts one more write, on the survivors in turn,
 * without cancelling the earlier ones (each bounded by `timeoutMs`), until one is acknowledged. So a
 * system that holds a write until it has a new leader (etcd) and one that refuses it at once (503,
 * ours) are timed alike, to within `intervalMs`. Resolves with the ms from `t0` to that answer.
 */
function firstWrite(system: System, survivors: string[], keyPrefix: string, intervalMs: number, timeoutMs: number, t0: number): Promise<{ ms: number; attempts: number }> {
  return new Promise((resolve, reject) => {
    let attempts = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      if (performance.now() - t0 > 60_000) {
        done = true;
        reject(new Error(`no write succeeded within 60 s (${attempts} attempts)`));
        return;
      }
      const id = survivors[attempts % survivors.length];
      attempts++;
      void system.tryPut(id, `${keyPrefix}-${attempts}`, timeoutMs).then((ok) => {
        if (ok && !done) {
          done = true;
          resolve({ ms: performance.now() - t0, attempts });
        }
      });
      setTimeout(tick, intervalMs);
    };
    tick();
  });
}

/**
 * SIGKILL the leader, time the first acknowledged write on a survivor (see firstWrite). The killed
 * member is restarted and caught up (and the cluster agrees on a leader) before the next kill.
 */
export async function measureFailover(system: System, name: string, kills: number, attemptIntervalMs: number, attemptTimeoutMs: number, log: (s: string) => void, loadavg: () => number[]): Promise<FailoverResult> {
  const times: number[] = [];
  const notes: string[] = [];
  const loadBefore = loadavg();
  await system.start();
  try {
    for (let k = 0; k < kills; k++) {
      const leader = await system.leader();
      const survivors = system.members().filter((m) => m !== leader);
      // Open the client's connections to the survivors before the kill, as a running client would have.
      for (const s of survivors) await system.tryPut(s, `failover-pre-${k}-${s}`, 2000);
      await system.kill(leader);
      const t0 = performance.now();
      const { ms, attempts } = await firstWrite(system, survivors, `failover-${k}`, attemptIntervalMs, attemptTimeoutMs, t0);
      times.push(ms);
      log(`  ${name} kill ${k + 1}/${kills}: ${leader} killed, first write after ${ms.toFixed(0)} ms (${attempts} attempts)`);
      system.restart(leader);
      await system.waitCaughtUp(leader);
    }
  } finally {
    await system.stop();
  }
  const sorted = times.slice().sort((a, b) => a - b);
  return {
    system: name,
    label: system.label,
    kills,
    times,
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
    attemptIntervalMs,
    attemptTimeoutMs,
    loadBefore,
    loadAfter: loadavg(),
    notes,
  };
}
