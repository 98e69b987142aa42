/** What a chaos run records: every client operation and every fault, with times from one clock. */

export type OpKind = 'put' | 'order' | 'cancel' | 'read' | 'read-local' | 'chat-post';
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface ProductState {
  stock: number;
  reserved: number;
}

export interface Op {
  id: number;
  /** Client number (unique over the run). */
  client: number;
  /** Host the client first sent to (1-based). */
  host: number;
  kind: OpKind;
  product?: string;
  /** put: the stock set; order: the quantity; cancel: the order's quantity. */
  value?: number;
  orderId?: string;
  key?: string;
  outcome: Outcome;
  /** For ok reads: what was read; for ok orders: the orderId; for fails: the error code. */
  read?: ProductState;
  error?: string;
  /** put ok: the `reserved` in the answer; order refused out_of_stock: the `available` in the answer. */
  observed?: number;
  /** Chat: the message id and the commit_index it was stored at. */
  msgId?: string;
  commitIndex?: number;
  /** ms since the run's start (process.hrtime). */
  invoke: number;
  /** ms since the run's start; null when the outcome is unknown. */
  complete: number | null;
  attempts: number;
  /** Hosts tried, in order. */
  tried: number[];
  lastStatus: number;
}

export type FaultKind =
  | 'partition-minority'
  | 'partition-leader'
  | 'partition-bridge'
  | 'oneway-leader-out'
  | 'oneway-leader-in'
  | 'kill-one'
  | 'kill-minority'
  | 'kill-all'
  | 'pause-leader'
  | 'pause-minority'
  | 'latency'
  | 'loss'
  | 'reorder-reset'
  | 'transfer-under-latency'
  | 'membership-under-loss';

export interface Fault {
  kind: FaultKind;
  /** ms since the run's start. */
  start: number;
  /** When every part of it was in place (iptables rules installed, processes killed, ...). */
  applied: number;
  /** When the fault was healed (ms since the run's start). */
  end: number;
  /** Hosts it targeted, and what was done, for the record. */
  targets: number[];
  detail: string;
  /** Set when an action of the fault failed (e.g. a membership change refused). */
  problems: string[];
}

export class Clock {
  private readonly t0 = process.hrtime.bigint();
  readonly wallStart = Date.now();

  now(): number {
    return Number(process.hrtime.bigint() - this.t0) / 1e6;
  }
}
