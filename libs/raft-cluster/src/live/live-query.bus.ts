import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { QueryBus } from '@nestjs/cqrs';
import type { Query } from '@nestjs/cqrs';
import { map, Observable, Subscription } from 'rxjs';
import { RaftClusterService } from '../raft-cluster.service';
import { LiveQueryHub, LiveQueryStats } from './live-query-hub';
import type { LiveQueryEmission, LiveQueryValue } from './shared-query';

/**
 * A query's result as a stream: `watch(new GetProductQuery('p1'))` emits `{ value, index }` with the
 * current value, then again after each batch of applies that changed it (compared as JSON), each time
 * with the applied index it reflects. Values reflect this node's own applied state (local reads: a
 * follower's values trail the leader's by its replication lag); intermediate values of a burst of
 * applies may be skipped, the last one never is; indexes strictly increase.
 *
 * The query runs through the app's QueryBus, so its `@QueryHandler` answers. Cost is bounded by the
 * number of distinct queries, not of subscribers: subscribers of the same query (same class and same
 * JSON fields) share one evaluation, stale queries are re-evaluated at most once per event-loop turn,
 * never twice at once, and the last unsubscribe drops the query. A query that throws ends its
 * subscribers' streams with that error (other queries go on); a new subscription evaluates it again.
 * A query class marked `@Consistency('linearizable')` waits for a read barrier at each evaluation:
 * leave live queries `local`. Streams complete at shutdown.
 */
@Injectable()
export class LiveQueryBus implements OnModuleInit, OnModuleDestroy {
  private hub: LiveQueryHub | null = null;
  private appliedSub: Subscription | null = null;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly cluster: RaftClusterService,
  ) {}

  onModuleInit(): void {
    let bus: QueryBus;
    try {
      bus = this.moduleRef.get(QueryBus, { strict: false });
    } catch {
      return; // no CqrsModule: watch() says so
    }
    const hub = (this.hub = new LiveQueryHub({
      execute: (query) => bus.execute(query as never),
      appliedIndex: () => this.cluster.appliedIndex,
    }));
    this.appliedSub = this.cluster.applied$.subscribe(() => hub.applied());
  }

  onModuleDestroy(): void {
    this.appliedSub?.unsubscribe();
    this.hub?.close();
  }

  /** The query's values on this node, each with the applied index it reflects (see the class). */
  watch<T>(query: Query<T>): Observable<LiveQueryValue<T>>;
  watch<T = unknown>(query: object): Observable<LiveQueryValue<T>>;
  watch<T>(query: object): Observable<LiveQueryValue<T>> {
    return this.emissions<T>(query).pipe(map(({ value, index }) => ({ value, index })));
  }

  /** Like `watch`, with each value's JSON text (made once for all subscribers): what the SSE routes write. */
  emissions<T = unknown>(query: object): Observable<LiveQueryEmission<T>> {
    if (this.hub === null) throw new Error('LiveQueryBus needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule');
    return this.hub.watch(query) as Observable<LiveQueryEmission<T>>;
  }

  /** Distinct queries, subscribers, evaluations and re-evaluation rounds so far. */
  stats(): LiveQueryStats {
    return this.hub?.stats() ?? { queries: 0, subscribers: 0, evaluations: 0, rounds: 0 };
  }
}
