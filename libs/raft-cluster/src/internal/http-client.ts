import * as http from 'node:http';
import * as https from 'node:https';

/** Marks a request that one node sent to another on a client's behalf: it is never forwarded again. */
export const FORWARDED_HEADER = 'x-raft-forwarded';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpCallOptions {
  method: string;
  /** Path and query, starting with `/`. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (set its content-type in `headers`); instead of `body`. */
  rawBody?: Buffer;
  headers?: Record<string, string | number>;
  timeoutMs: number;
  /** Largest answer accepted; beyond it the call fails. Default 1 MiB. */
  maxAnswerBytes?: number;
  /** Connections to reuse; default none (a fresh connection: no kept-alive socket the peer may have closed). */
  agent?: http.Agent;
  /** Aborts the call (it fails as a network error). */
  signal?: AbortSignal;
}

export class HttpCallError extends Error {
  constructor(
    readonly kind: 'timeout' | 'network' | 'too_large',
    message: string,
  ) {
    super(message);
    this.name = 'HttpCallError';
  }
}

/**
 * One request from this node to another (forwarded client requests, commands, joins): node:http(s), the
 * answer read whole up to a bound; rejects only on network errors, timeouts and aborts.
 */
export function httpCall(baseUrl: string, opts: HttpCallOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(opts.path, baseUrl);
    } catch (_e) {
      reject(new HttpCallError('network', `bad URL ${baseUrl}${opts.path}`));
      return;
    }
    const payload = opts.rawBody ?? (opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body)));
    const headers: Record<string, string | number> = { accept: 'application/json', ...(opts.rawBody === undefined && payload !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
    if (payload !== undefined) headers['content-length'] = payload.length;
    const request = url.protocol === 'https:' ? https.request : http.request;
    const max = opts.maxAnswerBytes ?? 1024 * 1024;
    let settled = false;
    const fail = (err: HttpCallError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new HttpCallError('network', `${url.origin}: aborted (${String(opts.signal?.reason ?? 'no reason')})`));
    const req = request(url, { method: opts.method, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > max) fail(new HttpCallError('too_large', `answer from ${url.origin} over ${max} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => fail(new HttpCallError('network', `${url.origin}: ${e.message}`)));
    });
    const timer = setTimeout(() => fail(new HttpCallError('timeout', `no answer from ${url.origin} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => fail(new HttpCallError('network', `${url.origin}: ${e.code ?? e.message}`)));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(payload);
  });
}

/** The answer's body as JSON, or null. */
export function jsonBody(answer: HttpAnswer): unknown {
  const type = String(answer.headers['content-type'] ?? '');
  if (!type.includes('json') || answer.body.length === 0) return null;
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch {
    return null;
  }
}
