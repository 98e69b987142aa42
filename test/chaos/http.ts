/**
 * HTTP for the chaos clients (keep-alive node:http, one agent per run). Every call resolves, never
 * rejects: `sent` tells whether the request may have reached the server, which is what separates a
 * definite failure (connection refused: nothing was sent) from an unknown outcome (timeout or reset
 * after sending).
 */
import * as http from 'node:http';

export interface Answer {
  /** HTTP status, or 0 when no answer came. */
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Set when no answer came: the error code (ECONNREFUSED, ETIMEDOUT, ECONNRESET, ...). */
  error: string | null;
  /** False only when the request certainly never reached the server. */
  sent: boolean;
  ms: number;
}

export interface CallInit {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  agent?: http.Agent;
}

export const defaultAgent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });

export function call(url: string, init: CallInit = {}): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const payload =
      init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(typeof init.body === 'string' ? init.body : JSON.stringify(init.body), 'utf8');
    let done = false;
    let connected = false;
    const finish = (a: Omit<Answer, 'ms'>): void => {
      if (done) return;
      done = true;
      resolve({ ...a, ms: Date.now() - started });
    };
    const req = http.request(
      url,
      {
        method: init.method ?? 'GET',
        agent: init.agent ?? defaultAgent,
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          ...(init.headers ?? {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), error: null, sent: true }));
        res.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, headers: {}, body: '', error: err.code ?? err.message, sent: true }));
      },
    );
    req.on('socket', (s) => {
      // A reused keep-alive socket is already connected: the request may reach the server.
      if (!s.connecting) connected = true;
      else s.once('connect', () => (connected = true));
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, init.timeoutMs ?? 2000);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = err.code ?? err.message;
      finish({ status: 0, headers: {}, body: '', error: code, sent: connected && code !== 'ECONNREFUSED' });
    });
    req.on('close', () => clearTimeout(timer));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export function json<T = Record<string, unknown>>(a: Answer): T | null {
  try {
    return JSON.parse(a.body) as T;
  } catch {
    return null;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for `p`, but at most `ms` (the timer is cleared either way, so nothing is left pending). */
export async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
