/**
 * Sequential specification of one product of the order app, for the linearizability checker
 * (libs/raft/src/testing/linearizability.ts). Histories are partitioned by product.
 *
 * State: absent, or { stock, reserved } plus the ids of the orders cancelled so far.
 *  - put(s)          stock := s, reserved unchanged (live orders keep their units); the answer shows
 *                    `reserved`, which must be the state's. On an absent product reserved := 0.
 *  - order(q)        ok iff stock >= q: stock -= q, reserved += q. Refused `out_of_stock` iff
 *                    stock < q, and the refusal's `available` must be the stock. `not_found` iff absent.
 *  - cancel(id, q)   ok iff the order is live: stock += q, reserved -= q (the order was acknowledged
 *                    before the cancel began, so it exists). `already_cancelled` iff it was cancelled.
 *  - read            { stock, reserved } as they are; `not_found` iff absent.
 * An operation with an unknown outcome (output undefined) may apply or not: the checker tries both.
 */
import type { Model, Operation, StepResult } from '@raft-cqrs/raft/testing';
import type { Op } from './history';

export interface ProductInput {
  kind: 'put' | 'order' | 'cancel' | 'read';
  product: string;
  value?: number;
  orderId?: string;
}

export type ProductOutput =
  | { ok: true; stock?: number; reserved?: number }
  | { ok: false; error: string; available?: number };

export interface ProductModelState {
  present: boolean;
  stock: number;
  reserved: number;
  /** Sorted ids of cancelled orders. */
  cancelled: readonly string[];
}

export type ProductOperation = Operation<ProductInput, ProductOutput>;

const ABSENT: ProductModelState = { present: false, stock: 0, reserved: 0, cancelled: [] };

function illegal(state: ProductModelState): StepResult<ProductModelState> {
  return { ok: false, state };
}

export const productModel: Model<ProductModelState, ProductInput, ProductOutput> = {
  init: () => ABSENT,

  step(state, input, output): StepResult<ProductModelState> {
    const q = input.value ?? 0;
    switch (input.kind) {
      case 'put': {
        if (output !== undefined) {
          if (!output.ok) return illegal(state);
          if (output.reserved !== undefined && output.reserved !== (state.present ? state.reserved : 0)) return illegal(state);
        }
        return { ok: true, state: { present: true, stock: q, reserved: state.present ? state.reserved : 0, cancelled: state.cancelled } };
      }
      case 'order': {
        const fits = state.present && state.stock >= q;
        const next: ProductModelState = fits ? { ...state, stock: state.stock - q, reserved: state.reserved + q } : state;
        if (output === undefined) return { ok: true, state: next };
        if (output.ok) return fits ? { ok: true, state: next } : illegal(state);
        if (output.error === 'not_found') return { ok: !state.present, state };
        if (output.error === 'out_of_stock') {
          const ok = state.present && !fits && (output.available === undefined || output.available === state.stock);
          return { ok, state };
        }
        return illegal(state);
      }
      case 'cancel': {
        const id = input.orderId ?? '';
        const live = state.present && !state.cancelled.includes(id);
        const next: ProductModelState = live
          ? { ...state, stock: state.stock + q, reserved: state.reserved - q, cancelled: [...state.cancelled, id].sort() }
          : state;
        if (output === undefined) return { ok: true, state: next };
        if (output.ok) return live ? { ok: true, state: next } : illegal(state);
        if (output.error === 'already_cancelled') return { ok: state.present && !live, state };
        return illegal(state);
      }
      case 'read': {
        if (output === undefined) return { ok: true, state };
        if (!output.ok) return { ok: output.error === 'not_found' && !state.present, state };
        return { ok: state.present && output.stock === state.stock && output.reserved === state.reserved, state };
      }
      default:
        throw new TypeError(`productModel: unknown operation kind ${JSON.stringify(input.kind)}`);
    }
  },

  key(state): string {
    return state.present ? `${state.stock}/${state.reserved}/${state.cancelled.join(',')}` : 'absent';
  },

  partition(ops): ProductOperation[][] {
    const by = new Map<string, ProductOperation[]>();
    for (const op of ops) {
      const list = by.get(op.input.product) ?? [];
      list.push(op);
      by.set(op.input.product, list);
    }
    return [...by.values()];
  },

  describe(input, output): string {
    const args = input.kind === 'cancel' ? `${input.orderId}, ${input.value}` : input.value !== undefined ? String(input.value) : '';
    const out = output === undefined ? '?' : output.ok ? (input.kind === 'read' || input.kind === 'put' ? JSON.stringify({ stock: output.stock, reserved: output.reserved }) : 'ok') : `${output.error}${output.available !== undefined ? ` (available ${output.available})` : ''}`;
    return `${input.product}.${input.kind}(${args}) -> ${out}`;
  },

  describeState(state): string {
    return state.present ? `{ stock: ${state.stock}, reserved: ${state.reserved}, cancelled: [${state.cancelled.length} orders] }` : 'absent';
  },
};

/**
 * The recorded operations the checker judges, in its form. Reads that failed or timed out say
 * nothing and are left out; writes refused before anything was sent (connection refused on every
 * attempt) certainly did not happen and are left out; writes with an unknown outcome stay, with
 * output undefined and no return time.
 */
export function toCheckerHistory(ops: readonly Op[]): ProductOperation[] {
  const out: ProductOperation[] = [];
  for (const op of ops) {
    if (op.product === undefined) continue;
    if (op.kind !== 'put' && op.kind !== 'order' && op.kind !== 'cancel' && op.kind !== 'read') continue;
    const input: ProductInput = { kind: op.kind, product: op.product, value: op.value, orderId: op.orderId };
    let output: ProductOutput | undefined;
    if (op.outcome === 'ok') {
      output = op.kind === 'read' ? { ok: true, stock: op.read?.stock, reserved: op.read?.reserved } : { ok: true, reserved: op.kind === 'put' ? op.observed : undefined };
    } else if (op.outcome === 'fail') {
      // A fail with an HTTP status is the system's answer; without one nothing was sent.
      if (op.lastStatus < 400 || op.lastStatus >= 500) continue;
      // A read refused for another reason than "no such product" (e.g. 409 not_leader) says nothing.
      if (op.kind === 'read' && op.error !== 'not_found') continue;
      output = { ok: false, error: op.error ?? String(op.lastStatus), available: op.observed };
    } else {
      if (op.kind === 'read') continue;
      output = undefined;
    }
    out.push({ clientId: op.client, input, output, call: op.invoke, ret: op.outcome === 'unknown' ? Infinity : (op.complete as number) });
  }
  return out;
}
