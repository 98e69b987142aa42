/**
 * Health and status probes of every node, every 500 ms, in a worker thread of their own (see
 * startProber): a load generator's saturated event loop must not count as the nodes' lag.
 */
import * as http from 'node:http';
import { parentPort, workerData, Worker } from 'node:worker_threads';
import { call, sleep } from './http';

export interface ProbeFigures {
  total: number;
  slow: number;
  failed: number;
  worstMs: number;
  examples: string[];
}

/** Probes until `stopped()`: a probe that is not 200 failed, one over a second was slow. */
export async function probeUntil(urls: string[], paths: string[], stopped: () => boolean): Promise<ProbeFigures> {
  const probes: ProbeFigures = { total: 0, slow: 0, failed: 0, worstMs: 0, examples: [] };
  const agent = new http.Agent({ keepAlive: false });
  while (!stopped()) {
    await Promise.all(
      urls.flatMap((u) =>
        paths.map(async (path) => {
          const a = await call(`${u}${path}`, { timeoutMs: 3000, agent });
          probes.total++;
          probes.worstMs = Math.max(probes.worstMs, a.ms);
          if (a.status !== 200) {
            probes.failed++;
            if (probes.examples.length < 10) probes.examples.push(`${u}${path}: ${a.status || a.error} after ${a.ms} ms`);
          } else if (a.ms > 1000) {
            probes.slow++;
            if (probes.examples.length < 10) probes.examples.push(`${u}${path}: ${a.ms} ms`);
          }
        }),
      ),
    );
    await sleep(500);
  }
  agent.destroy();
  return probes;
}

/** Starts `probeUntil` in a worker thread (with the TypeScript loader); `stop()` ends it and gives the figures. */
export function startProber(urls: string[], paths: string[]): { stop(): Promise<ProbeFigures> } {
  const worker = new Worker(`require('@swc-node/register'); require(${JSON.stringify(__filename)});`, { eval: true, workerData: { urls, paths } });
  worker.unref(); // a failed run must not hang on it
  const result = new Promise<ProbeFigures>((resolve, reject) => {
    worker.once('message', (m: ProbeFigures) => resolve(m));
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const r = await result;
      await worker.terminate();
      return r;
    },
  };
}

if (parentPort !== null && (workerData as { urls?: unknown } | null)?.urls !== undefined) {
  const port = parentPort;
  const { urls, paths } = workerData as { urls: string[]; paths: string[] };
  let stopped = false;
  port.once('message', () => (stopped = true));
  void probeUntil(urls, paths, () => stopped).then((figures) => port.postMessage(figures));
}
