/** The product model the chaos run judges stock histories with: it accepts what the app may do and refuses what it must not. */
import { checkLinearizability } from '@raft-cqrs/raft/testing';
import type { Op } from './history';
import { productModel, toCheckerHistory } from './order-model';

let nextId = 0;
function op(fields: Partial<Op> & Pick<Op, 'kind' | 'invoke'>): Op {
  return { id: nextId++, client: 1, host: 1, product: 'p', outcome: 'ok', complete: fields.invoke + 1, attempts: 1, tried: [1], lastStatus: 200, ...fields };
}

function verdict(ops: Op[]): string {
  return checkLinearizability(productModel, toCheckerHistory(ops), { timeoutMs: 5000 }).verdict;
}

describe('product model', () => {
  const create = op({ kind: 'put', value: 5, invoke: 0, observed: 0 });

  it('accepts a sequential history of sets, orders, cancels and reads', () => {
    expect(
      verdict([
        create,
        op({ kind: 'order', value: 3, orderId: 'a', invoke: 10 }),
        op({ kind: 'read', read: { stock: 2, reserved: 3 }, invoke: 20 }),
        op({ kind: 'order', value: 3, outcome: 'fail', lastStatus: 409, error: 'out_of_stock', observed: 2, invoke: 30 }),
        op({ kind: 'cancel', value: 3, orderId: 'a', invoke: 40 }),
        op({ kind: 'put', value: 1, observed: 0, invoke: 50 }),
        op({ kind: 'read', read: { stock: 1, reserved: 0 }, invoke: 60 }),
      ]),
    ).toBe('ok');
  });

  it('refuses an oversell: two orders of 3 both acknowledged from a stock of 5', () => {
    expect(verdict([create, op({ kind: 'order', value: 3, invoke: 10, complete: 30 }), op({ kind: 'order', value: 3, invoke: 11, complete: 31, client: 2 })])).toBe('illegal');
  });

  it('refuses a stale read after an acknowledged order', () => {
    expect(verdict([create, op({ kind: 'order', value: 2, invoke: 10 }), op({ kind: 'read', read: { stock: 5, reserved: 0 }, invoke: 20 })])).toBe('illegal');
  });

  it('refuses an out_of_stock answer when the stock was there, and a wrong `available`', () => {
    expect(verdict([create, op({ kind: 'order', value: 2, outcome: 'fail', lastStatus: 409, error: 'out_of_stock', observed: 5, invoke: 10 })])).toBe('illegal');
    expect(verdict([create, op({ kind: 'order', value: 9, outcome: 'fail', lastStatus: 409, error: 'out_of_stock', observed: 4, invoke: 10 })])).toBe('illegal');
  });

  it('refuses a set whose answer shows a reserved count the product cannot have', () => {
    expect(verdict([create, op({ kind: 'order', value: 2, invoke: 10 }), op({ kind: 'put', value: 7, observed: 0, invoke: 20 })])).toBe('illegal');
  });

  it('lets an unknown order take effect later or never', () => {
    const unknown = op({ kind: 'order', value: 2, outcome: 'unknown', complete: null, invoke: 10 });
    expect(verdict([create, unknown, op({ kind: 'read', read: { stock: 5, reserved: 0 }, invoke: 20 }), op({ kind: 'read', read: { stock: 3, reserved: 2 }, invoke: 30 })])).toBe('ok');
    expect(verdict([create, unknown, op({ kind: 'read', read: { stock: 5, reserved: 0 }, invoke: 20 })])).toBe('ok');
    // But not twice.
    expect(verdict([create, unknown, op({ kind: 'read', read: { stock: 1, reserved: 4 }, invoke: 20 })])).toBe('illegal');
  });

  it('refuses a cancel acknowledged twice, and an already_cancelled for a live order', () => {
    const order = op({ kind: 'order', value: 2, orderId: 'a', invoke: 10 });
    expect(verdict([create, order, op({ kind: 'cancel', value: 2, orderId: 'a', invoke: 20 }), op({ kind: 'cancel', value: 2, orderId: 'a', invoke: 30 })])).toBe('illegal');
    expect(verdict([create, order, op({ kind: 'cancel', value: 2, orderId: 'a', outcome: 'fail', lastStatus: 409, error: 'already_cancelled', invoke: 20 })])).toBe('illegal');
  });

  it('leaves out reads without an answer and writes that were never sent', () => {
    const h = toCheckerHistory([
      create,
      op({ kind: 'read', outcome: 'unknown', complete: null, lastStatus: 0, invoke: 10 }),
      op({ kind: 'put', value: 9, outcome: 'fail', lastStatus: 0, error: 'ECONNREFUSED', invoke: 20 }),
      op({ kind: 'read-local', read: { stock: 0, reserved: 0 }, invoke: 30 }),
    ]);
    expect(h).toHaveLength(1);
  });
});
