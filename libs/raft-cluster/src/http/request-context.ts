import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RAFT_CLUSTER_OPTIONS } from '../raft-cluster.constants';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import type { ReadConsistency } from '../cqrs/decorators';

/** What the bridge needs to know of the HTTP request being served, if any. */
export interface RequestContext {
  /** From the first of the `idempotencyHeaders` the client sent (`Idempotency-Key` by default); else null. */
  readonly requestId: string | null;
  /** From `?consistency=` or `X-Consistency`; null when the request did not ask. */
  readonly consistency: ReadConsistency | null;
  /** From `X-Correlation-ID`, else `X-Request-ID` (tracing ids, never idempotency keys); else null. */
  readonly correlationId: string | null;
  /** Commands executed so far while serving this request (the n-th one gets its own request id). */
  commands: number;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

export function runInRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,200}$/;

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function badRequest(res: ServerResponse, field: string, message: string): void {
  const body = JSON.stringify({ error: 'bad_request', message, field });
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Reads the request id and the read consistency a client asked for and makes them visible to the
 * command and query buses for the rest of the request (AsyncLocalStorage), so that controllers just call
 * `commandBus.execute(...)` / `queryBus.execute(...)`. A malformed value answers 400 here.
 */
@Injectable()
export class RequestContextMiddleware implements NestMiddleware {
  constructor(@Inject(RAFT_CLUSTER_OPTIONS) private readonly options: ResolvedRaftClusterOptions) {}

  use(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    let id: string | undefined;
    for (const name of this.options.idempotencyHeaders) {
      id = headerValue(req, name);
      if (id === undefined) continue;
      if (!REQUEST_ID_PATTERN.test(id)) return badRequest(res, name, `header ${name} must be 1-200 visible ASCII characters`);
      break;
    }
    let consistency: string | undefined = headerValue(req, 'x-consistency');
    const q = req.url?.indexOf('?') ?? -1;
    if (q >= 0) {
      const fromQuery = new URLSearchParams(req.url!.slice(q + 1)).get('consistency');
      if (fromQuery !== null) consistency = fromQuery;
    }
    if (consistency !== undefined && consistency !== 'local' && consistency !== 'linearizable') {
      return badRequest(res, 'consistency', `consistency must be "local" or "linearizable", got ${JSON.stringify(consistency.slice(0, 40))}`);
    }
    // A malformed tracing id is left out rather than refused: proxies set these headers, not the client.
    let correlationId = headerValue(req, 'x-correlation-id') ?? headerValue(req, 'x-request-id');
    if (correlationId !== undefined && !REQUEST_ID_PATTERN.test(correlationId)) correlationId = undefined;
    // A request that asks for nothing needs no context: the buses' defaults are what an empty one gives.
    // (A request starts with no store: the server's 'request' event runs in the connection's context.)
    if (id === undefined && consistency === undefined && correlationId === undefined) return next();
    const ctx: RequestContext = { requestId: id ?? null, consistency: (consistency as ReadConsistency | undefined) ?? null, correlationId: correlationId ?? null, commands: 0 };
    storage.run(ctx, () => next());
  }
}
