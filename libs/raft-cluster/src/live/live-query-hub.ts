import { AsyncResource } from 'node:async_hooks';
import { Observable } from 'rxjs';
import { LiveQueryEmission, SharedQuery } from './shared-query';

/** What the hub needs of the node: a way to run a query, and the applied index. */
export interface LiveQueryPorts {
  /** Runs the query on this node (the app's QueryBus, so its `@QueryHandler`s answer). */
  execute(query: object): Promise<unknown>;
  /** This node's applied index now. */
  appliedIndex(): number;
  /** Runs `fn` on a later turn of the event loop (default `setImmediate`); tests may pass their own. */
  defer?(fn: () => void): void;
}

/** What the hub holds now, and the work it has done (for tests, metrics and diagnostics). */
export interface LiveQueryStats {
  /** Distinct queries watched (same class and same JSON fields count once). */
  queries: number;
  /** Subscriptions, all queries together. */
  subscribers: number;
  /** Query evaluations since start. */
  evaluations: number;
  /** Re-evaluation rounds since start (at most one per event-loop turn). */
  rounds: number;
}

/**
 * Live queries without Nest: each distinct query is evaluated once for all its subscribers; applies
 * only mark the queries stale (a counter, O(1) per applied entry), and one round per event-loop turn
 * re-evaluates the stale ones, at most one evaluation in flight per query. A value is sent only when
 * its JSON differs from the previous one. Unsubscribing the last subscriber of a query drops it.
 */
export class LiveQueryHub {
  private readonly queries = new Map<string, SharedQuery>();
  private readonly classIds = new Map<unknown, number>();
  /** Applies seen (entries and snapshot installs): a query evaluated at a lower count is stale. */
  private applies = 0;
  private scheduled = false;
  private closed = false;
  private evaluations = 0;
  private rounds = 0;
  private readonly defer: (fn: () => void) => void;
  /**
   * Evaluations run in the async context the hub was made in (none), not in that of the apply or the
   * request that happened to wake them: a query never sees another request's headers or an apply context.
   */
  private readonly scope = new AsyncResource('LiveQueryHub');

  constructor(private readonly ports: LiveQueryPorts) {
    this.defer = ports.defer ?? ((fn) => void setImmediate(fn));
  }

  /**
   * The query's values on this node: the current one first (at once when it is known and current), then
   * one after each batch of applies that changed it. The stream errors with the query's error (so do the
   * other subscribers of the same query; other queries go on) and completes at {@link close}.
   */
  watch(query: object): Observable<LiveQueryEmission> {
    return new Observable<LiveQueryEmission>((sub) => {
      if (this.closed) {
        sub.complete();
        return undefined;
      }
      const key = this.keyOf(query);
      let shared = this.queries.get(key);
      if (shared === undefined) {
        shared = new SharedQuery(key, query);
        this.queries.set(key, shared);
      }
      const target = shared;
      if (!target.add(sub, this.applies) && !target.running) this.schedule();
      return () => {
        target.remove(sub);
        if (target.subscribers.size === 0 && !target.closed) {
          target.closed = true;
          if (this.queries.get(key) === target) this.queries.delete(key);
        }
      };
    });
  }

  /** Called for each apply (an entry, or a snapshot installed): every query is stale; one round follows. */
  applied(): void {
    this.applies++;
    if (this.queries.size > 0) this.schedule();
  }

  /** Completes every subscription; later ones complete at once. */
  close(): void {
    this.closed = true;
    const all = [...this.queries.values()];
    this.queries.clear();
    for (const q of all) q.complete();
  }

  stats(): LiveQueryStats {
    let subscribers = 0;
    for (const q of this.queries.values()) subscribers += q.subscribers.size;
    return { queries: this.queries.size, subscribers, evaluations: this.evaluations, rounds: this.rounds };
  }

  /** Same class and same JSON fields: one shared evaluation. Fields JSON cannot write throw (to the subscriber). */
  private keyOf(query: object): string {
    if (query === null || typeof query !== 'object') throw new TypeError('LiveQueryBus.watch: the query must be an object (an instance of a query class)');
    const cls: unknown = query.constructor;
    let id = this.classIds.get(cls);
    if (id === undefined) {
      id = this.classIds.size + 1;
      this.classIds.set(cls, id);
    }
    return `${id}:${JSON.stringify(query)}`;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    this.defer(() =>
      this.scope.runInAsyncScope(() => {
        this.scheduled = false;
        this.round();
      }),
    );
  }

  /** Evaluates every query that is stale or has subscribers waiting, unless its evaluation is in flight. */
  private round(): void {
    if (this.closed) return;
    let any = false;
    for (const q of this.queries.values()) {
      if (q.running || (q.evaluatedAt === this.applies && q.pendingSubscribers === 0)) continue;
      any = true;
      this.evaluate(q);
    }
    if (any) this.rounds++;
  }

  private evaluate(q: SharedQuery): void {
    const applies = this.applies;
    const index = this.ports.appliedIndex();
    q.running = true;
    q.evaluatedAt = applies;
    this.evaluations++;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.ports.execute(q.query));
    } catch (err) {
      result = Promise.reject(err);
    }
    result
      .then(
        (value) => {
          q.running = false;
          q.settle(index, value);
        },
        (err: unknown) => {
          q.running = false;
          this.drop(q);
          q.fail(err);
        },
      )
      .catch((err: unknown) => {
        // JSON that cannot be written (a BigInt, a cycle) or a subscriber that threw: the query's error.
        this.drop(q);
        q.fail(err);
      })
      .finally(() => {
        // Applied while it ran, or subscribers that joined meanwhile: another round.
        if (!q.closed && (q.evaluatedAt !== this.applies || q.pendingSubscribers > 0)) this.schedule();
      });
  }

  private drop(q: SharedQuery): void {
    if (this.queries.get(q.key) === q) this.queries.delete(q.key);
  }
}
