import type { Subscriber } from 'rxjs';

/** One value of a live query: what the query answered, and the applied index it reflects. */
export interface LiveQueryValue<T = unknown> {
  /** The query's result, as a JSON copy (deep-frozen: every subscriber of the query gets the same object). */
  readonly value: T;
  /**
   * This node's applied index when the evaluation that gave `value` began: the value reflects the log up
   * to at least this index. Strictly increasing from one value to the next of a subscription.
   */
  readonly index: number;
}

/** A value as the hub hands it out: with its JSON text, made once for every subscriber (Server-Sent Events write it). */
export interface LiveQueryEmission<T = unknown> extends LiveQueryValue<T> {
  readonly json: string;
}

/**
 * One distinct query (same class, same JSON fields) and everyone watching it: its last value, whether
 * an evaluation is in flight, and the apply count it was last evaluated at. The hub decides when it is
 * evaluated; this class decides who gets what.
 */
export class SharedQuery {
  readonly subscribers = new Set<Subscriber<LiveQueryEmission>>();
  /** Subscribers that have not had a value yet: the next evaluation's value goes to them, changed or not. */
  private readonly waiting = new Set<Subscriber<LiveQueryEmission>>();
  private current: LiveQueryEmission | null = null;
  /** The hub's apply count when the last evaluation began (-1: never evaluated). */
  evaluatedAt = -1;
  running = false;
  /** Dropped: its last subscriber left, or the query threw. An evaluation in flight is then ignored. */
  closed = false;

  constructor(
    readonly key: string,
    readonly query: object,
  ) {}

  /** Whether the last value still reflects the state: evaluated since the last apply, nothing in flight. */
  isCurrent(applies: number): boolean {
    return this.current !== null && !this.running && this.evaluatedAt === applies;
  }

  /** Adds a subscriber; true when it got the current value at once, false when it waits for an evaluation. */
  add(sub: Subscriber<LiveQueryEmission>, applies: number): boolean {
    this.subscribers.add(sub);
    if (this.current !== null && this.isCurrent(applies)) {
      sub.next(this.current);
      return true;
    }
    this.waiting.add(sub);
    return false;
  }

  remove(sub: Subscriber<LiveQueryEmission>): void {
    this.subscribers.delete(sub);
    this.waiting.delete(sub);
  }

  get pendingSubscribers(): number {
    return this.waiting.size;
  }

  /** An evaluation that began at `index` answered `value`: sent to everyone if it changed, else to those waiting. */
  settle(index: number, value: unknown): void {
    if (this.closed) return;
    const json = JSON.stringify(value) ?? 'null';
    const changed = this.current === null || this.current.json !== json;
    const emission: LiveQueryEmission = { value: changed ? deepFreeze(JSON.parse(json)) : this.current!.value, index, json };
    this.current = emission;
    const to = changed ? [...this.subscribers] : [...this.waiting];
    this.waiting.clear();
    for (const sub of to) sub.next(emission);
  }

  /** The query threw: every subscriber's stream ends with the error, and the query is dropped. */
  fail(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    const subs = [...this.subscribers];
    this.subscribers.clear();
    this.waiting.clear();
    for (const sub of subs) sub.error(err);
  }

  /** Ends every subscriber's stream (shutdown). */
  complete(): void {
    this.closed = true;
    const subs = [...this.subscribers];
    this.subscribers.clear();
    this.waiting.clear();
    for (const sub of subs) sub.complete();
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
