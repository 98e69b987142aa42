import * as http from 'node:http';

/**
 * The one load generator of bench:compare: a closed loop of C workers, each sending its next put as
 * soon as the previous one is answered. A run lasts warm-up + measured seconds; only puts that
 * complete inside the measured window count (throughput = those / window, latencies of those).
 */
export interface Driver {
  /** Short name of the system and path, e.g. `ours-leader`, `etcd-gateway`, `etcd-grpc`. */
  readonly name: string;
  /** One put; resolves when the system acknowledged it, rejects on any error or non-success answer. */
  put(key: string, value: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void> | void;
}

export interface LoadResult {
  path: string;
  concurrency: number;
  ok: number;
  failed: number;
  /** Puts acknowledged over the whole run, warm-up included (for CPU per put). */
  totalOk: number;
  /** First few distinct error messages, with counts. */
  errors: Record<string, number>;
  seconds: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export const VALUE_BYTES = 100;

export function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A 100-byte ASCII value, different per put (the tail is the counter). */
export function valueFor(n: number): string {
  const tail = `-${n}`;
  return 'v'.repeat(VALUE_BYTES - tail.length) + tail;
}

export async function runLoad(driver: Driver, concurrency: number, warmupSeconds: number, seconds: number, keyPrefix: string): Promise<LoadResult> {
  const t0 = performance.now();
  const windowStart = t0 + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  // Preallocated: at 20,000 puts/s for 10 s this is 1.6 MB.
  let lat = new Float64Array(1 << 16);
  let ok = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  let seq = 0;
  let totalOk = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      // A worker that fails fast (connection refused) must not spin: bounded by the clock and a pause.
      while (performance.now() < windowEnd) {
        const n = seq++;
        const start = performance.now();
        try {
          await driver.put(`${keyPrefix}-w${w}-${n}`, valueFor(n));
          const done = performance.now();
          totalOk++;
          if (done >= windowStart && done <= windowEnd) {
            if (ok === lat.length) {
              const bigger = new Float64Array(lat.length * 2);
              bigger.set(lat);
              lat = bigger;
            }
            lat[ok++] = done - start;
          }
        } catch (err) {
          const done = performance.now();
          if (done >= windowStart && done <= windowEnd) {
            failed++;
            const msg = (err instanceof Error ? err.message : String(err)).slice(0, 120);
            if (errors[msg] !== undefined || Object.keys(errors).length < 8) errors[msg] = (errors[msg] ?? 0) + 1;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }),
  );
  const sorted = lat.subarray(0, ok).sort();
  let sum = 0;
  for (let i = 0; i < ok; i++) sum += sorted[i];
  return {
    path: driver.name,
    concurrency,
    ok,
    failed,
    totalOk,
    errors,
    seconds,
    throughput: ok / seconds,
    p50: pct(sorted, 50),
    p90: pct(sorted, 90),
    p99: pct(sorted, 99),
    max: ok > 0 ? sorted[ok - 1] : NaN,
    mean: ok > 0 ? sum / ok : NaN,
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request over a keep-alive agent; rejects on a socket error or after `timeoutMs`. */
export function httpRequest(agent: http.Agent, url: string, method: string, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    // A deadline for the whole exchange (the socket `timeout` option only measures idleness).
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** Ours: `PUT /kv/:key { value }` on one node (the leader, or a follower that forwards to it). */
export class OursDriver implements Driver {
  private readonly agent: http.Agent;

  constructor(
    readonly name: string,
    private readonly base: string,
    concurrency: number,
    private readonly timeoutMs = 10_000,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  async put(key: string, value: string, timeoutMs = this.timeoutMs): Promise<void> {
    const r = await httpRequest(this.agent, `${this.base}/kv/${encodeURIComponent(key)}`, 'PUT', JSON.stringify({ value }), timeoutMs);
    if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.body.slice(0, 80)}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** etcd through its v3 JSON gateway: `POST /v3/kv/put { key, value }` (base64), on one member. */
export class EtcdGatewayDriver implements Driver {
  private readonly agent: http.Agent;

  constructor(
    readonly name: string,
    private readonly base: string,
    concurrency: number,
    private readonly timeoutMs = 10_000,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  async put(key: string, value: string, timeoutMs = this.timeoutMs): Promise<void> {
    const body = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') });
    const r = await httpRequest(this.agent, `${this.base}/v3/kv/put`, 'POST', body, timeoutMs);
    if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.body.slice(0, 80)}`);
  }

  close(): void {
    this.agent.destroy();
  }
}
