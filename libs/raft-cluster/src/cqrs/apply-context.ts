import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/**
 * What a command handler may use instead of the clock, random numbers or a counter of its own: values
 * fixed by the leader when it proposed the entry, the same on every node and on every replay.
 */
export interface RaftApplyContext {
  /** Log index of the entry being applied. */
  readonly index: number;
  /** Term of the entry. */
  readonly term: number;
  /** The leader's clock (ms since the epoch) when it proposed the entry. */
  readonly timestamp: number;
  /** The request id the command was proposed with (the client's Idempotency-Key, or the bus's own). */
  readonly requestId: string | null;
  /** Position of the command inside an `executeAll` batch (0 for a single command). */
  readonly position: number;
  /** Ties together everything one request caused: its `X-Correlation-ID` (or `X-Request-ID`), else a generated id. */
  readonly correlationId: string | null;
  /** What caused this command: the request id of the command whose apply dispatched it, or the caller's `X-Request-ID`. */
  readonly causationId: string | null;
  /** A fresh id (UUID v4 format), derived from the leader's seed: the same sequence on every node. */
  newId(): string;
}

const storage = new AsyncLocalStorage<RaftApplyContext>();

export class ApplyContextImpl implements RaftApplyContext {
  private counter = 0;
  /**
   * Undo steps of the store writes made while this entry is applied, newest last: a handler that fails
   * (or returns what the log cannot carry) leaves the stores as they were, on every node. Null: not kept.
   */
  undo: (() => void)[] | null = null;
  /** The events published while this entry is applied, in order, for the event journal. Null: not kept. */
  raised: object[] | null = null;

  constructor(
    readonly index: number,
    readonly term: number,
    readonly timestamp: number,
    readonly requestId: string | null,
    private readonly seed: string,
    readonly position = 0,
    readonly correlationId: string | null = null,
    readonly causationId: string | null = null,
  ) {}

  newId(): string {
    const h = createHash('sha256').update(`${this.seed}:${this.position}:${this.counter++}`).digest('hex');
    // Version 4 and variant bits set, so the ids look like (and sort like) ordinary UUIDs.
    const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

/** Runs `fn` with `ctx` as the current apply context. */
export function runInApplyContext<T>(ctx: RaftApplyContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The apply context of the entry being applied, or undefined outside an apply. */
export function currentApplyContext(): RaftApplyContext | undefined {
  return storage.getStore();
}

/** Records how to take back a store write of the entry being applied (no-op when nothing is recorded). */
export function recordUndo(step: () => void): void {
  const ctx = storage.getStore();
  if (ctx instanceof ApplyContextImpl && ctx.undo !== null) ctx.undo.push(step);
}

/** Keeps an event published while an entry is applied, when its context keeps them. */
export function recordRaisedEvent(event: object): void {
  const ctx = storage.getStore();
  if (ctx instanceof ApplyContextImpl && ctx.raised !== null) ctx.raised.push(event);
}

/** The apply context of the entry being applied; throws outside an apply (a handler called directly). */
export function requireApplyContext(): RaftApplyContext {
  const ctx = storage.getStore();
  if (ctx === undefined) throw new Error('no Raft apply context: this code runs only while a replicated command is applied');
  return ctx;
}

export function isApplying(): boolean {
  return storage.getStore() !== undefined;
}

const dispatches = new WeakMap<RaftApplyContext, number>();

/**
 * The request id of the n-th replicated command dispatched while `ctx`'s entry is applied (a saga's
 * command, say). Only the leader dispatches, so the id must not come from `newId()`: that would move the
 * leader's id sequence ahead of the followers' and the stores would diverge.
 */
export function dispatchRequestId(ctx: RaftApplyContext): string {
  const n = dispatches.get(ctx) ?? 0;
  dispatches.set(ctx, n + 1);
  return `apply:${ctx.index}:${ctx.position}:${n}`;
}
