import type { IncomingMessage } from 'node:http';
import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { QueryBus } from '@nestjs/cqrs';
import { from, mergeMap, Observable, Subscription } from 'rxjs';
import { currentRequestContext } from '../http/request-context';
import { rawRequest, rawResponse, takeOverResponse } from '../http/http-platform';
import { ClusterHttpError } from '../raft-cluster.errors';
import { RaftClusterService } from '../raft-cluster.service';
import { LiveQueryBus } from './live-query.bus';
import { LiveQueryStreams } from './live-query-streams';
import { formatErrorEvent, formatLiveEvent, LiveSseStream } from './live-sse-stream';
import { LiveStreamStarted } from './live-stream-started.filter';
import type { LiveQueryEmission } from './shared-query';

/** Whether the client asked for an event stream (`Accept: text/event-stream`, as EventSource sends). */
export function acceptsEventStream(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('text/event-stream');
}

/** `Last-Event-ID` as an applied index; null when absent or not a non-negative integer. */
export function lastEventIndex(req: IncomingMessage): number | null {
  const raw = req.headers['last-event-id'];
  const text = Array.isArray(raw) ? raw[0] : raw;
  return text !== undefined && /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : null;
}

/** Headers set on Fastify's reply (by hooks: CORS, ...), which writing to its raw response would lose; Express sets them on the response itself. */
function fastifyReplyHeaders(reply: unknown): Record<string, string | number | string[]> {
  const r = reply as { raw?: unknown; getHeaders?: () => Record<string, string | number | string[] | undefined> } | null;
  if (r === null || typeof r !== 'object' || r.raw === undefined || typeof r.getHeaders !== 'function') return {};
  const out: Record<string, string | number | string[]> = {};
  for (const [k, v] of Object.entries(r.getHeaders())) if (v !== undefined) out[k] = v;
  return out;
}

/** The status and JSON body an error would have had as an HTTP answer, for the event that ends a stream. */
function errorAnswer(err: unknown): [number, unknown] {
  if (err instanceof HttpException) return [err.getStatus(), err.getResponse()];
  if (err instanceof ClusterHttpError) return [err.status, { error: err.code, message: err.message, ...err.extra }];
  return [500, { error: 'internal_error', message: 'the query failed' }];
}

/**
 * Bound by `@LiveQuery()`. The route handler returns the query object. A request without
 * `Accept: text/event-stream` gets the query's result through the QueryBus, exactly as a route that
 * returned `queryBus.execute(query)`. An event stream request subscribes the query on this node's
 * {@link LiveQueryBus}: an error before the first value is the ordinary HTTP answer (404, ...); the
 * first value turns the answer into Server-Sent Events (`id:` the applied index, `data:` the JSON),
 * then one event per change. With `Last-Event-ID: n` the first event is left out when its index is
 * not above n: the client already has a value at least as new, and anything newer follows. A query
 * that fails later ends the stream with an `event: query-error` (its HTTP status and body).
 */
@Injectable()
export class LiveQueryInterceptor implements NestInterceptor {
  private queryBus: QueryBus | null = null;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly live: LiveQueryBus,
    private readonly streams: LiveQueryStreams,
    private readonly cluster: RaftClusterService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const req = rawRequest(http.getRequest());
    const reply: unknown = http.getResponse();
    const where = `${context.getClass().name}.${context.getHandler().name}`;
    // One URL, two answers (JSON or an event stream): a cache must key on Accept.
    rawResponse(reply).setHeader('vary', 'Accept');
    return next.handle().pipe(
      mergeMap((query: unknown) => {
        if (query === null || typeof query !== 'object') {
          throw new TypeError(`@LiveQuery() route ${where} must return the query object (for example new GetProductQuery(id)), got ${query === null ? 'null' : typeof query}`);
        }
        if (!acceptsEventStream(req)) return from(this.bus().execute(query as never));
        return this.stream(query, req, reply);
      }),
    );
  }

  private bus(): QueryBus {
    if (this.queryBus === null) {
      try {
        this.queryBus = this.moduleRef.get(QueryBus, { strict: false });
      } catch {
        this.queryBus = null;
      }
    }
    if (this.queryBus === null) throw new Error('@LiveQuery() needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule');
    return this.queryBus;
  }

  /** Errors with the query's error (an HTTP answer) or with LiveStreamStarted once the stream took the response over. */
  private stream(query: object, req: IncomingMessage, reply: unknown): Observable<never> {
    return new Observable<never>((observer) => {
      if (this.streams.closing) {
        observer.error(new ClusterHttpError(503, 'shutting_down', 'this node is shutting down; reconnect to another node', {}, { 'Retry-After': '1' }));
        return undefined;
      }
      const after = lastEventIndex(req);
      const res = rawResponse(reply);
      let stream: LiveSseStream | null = null;
      let subscription: Subscription | null = null;
      let done = false;
      const clientLeft = (): void => {
        if (stream !== null || done) return;
        done = true;
        subscription?.unsubscribe();
        observer.error(new LiveStreamStarted()); // nobody to answer
      };
      const first = (e: LiveQueryEmission): void => {
        res.off('close', clientLeft);
        const extra = fastifyReplyHeaders(reply);
        stream = this.streams.open(takeOverResponse(reply), extra);
        if (after === null || e.index > after) stream.send(formatLiveEvent(e));
        done = true;
        observer.error(new LiveStreamStarted());
      };
      const start = (): void => {
        subscription = this.live.emissions(query).subscribe({
          next: (e) => {
            if (stream === null) first(e);
            else stream.send(formatLiveEvent(e));
            if (subscription !== null) stream?.attach(subscription);
          },
          error: (err: unknown) => {
            if (stream !== null) return stream.end(formatErrorEvent(...errorAnswer(err)));
            done = true;
            res.off('close', clientLeft);
            observer.error(err);
          },
          complete: () => {
            if (stream !== null) return stream.end();
            done = true;
            observer.error(new ClusterHttpError(503, 'shutting_down', 'this node is shutting down; reconnect to another node', {}, { 'Retry-After': '1' }));
          },
        });
        if (stream !== null) (stream as LiveSseStream).attach(subscription);
        else if (done) subscription.unsubscribe();
      };
      res.once('close', clientLeft);
      // `?consistency=linearizable` (or X-Consistency): the first value reflects at least the leader's commit index.
      if (currentRequestContext()?.consistency === 'linearizable') {
        this.cluster.readBarrier().then(
          () => (done ? undefined : start()),
          (err: unknown) => {
            if (done) return;
            done = true;
            res.off('close', clientLeft);
            observer.error(err);
          },
        );
      } else {
        start();
      }
      return undefined;
    });
  }
}
