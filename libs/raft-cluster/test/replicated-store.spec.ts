import { Injectable } from '@nestjs/common';
import { InMemoryStore, ReplicatedState, ReplicatedStateWriteError } from '../src';
import { TestReplica } from '../src/testing';

@ReplicatedState('shop.carts')
@Injectable()
class CartStore extends InMemoryStore<number> {}

describe('a @ReplicatedState store written outside apply', () => {
  it('throws at once, naming the store and asking whether the command is @Replicated; reads stay free', () => {
    const carts = new CartStore();
    let error: unknown;
    try {
      carts.set('c1', 1);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ReplicatedStateWriteError);
    expect((error as Error).message).toContain("CartStore ('shop.carts').set() called outside a Raft apply");
    expect((error as Error).message).toContain('@Replicated');
    expect(() => carts.delete('c1')).toThrow(ReplicatedStateWriteError);
    expect([carts.get('c1'), carts.has('c1'), carts.size, [...carts.values()]]).toEqual([undefined, false, 0, []]);
  });

  it('takes writes while a replicated command is applied, and restores from snapshots between applies', () => {
    const carts = new CartStore();
    new TestReplica().apply(() => carts.set('c1', 3));
    expect(carts.get('c1')).toBe(3);
    const copy = new CartStore();
    copy.restore(carts.snapshot());
    expect(copy.get('c1')).toBe(3);
  });
});

describe("an InMemoryStore's digest", () => {
  it('follows writes, deletes, undone writes and in-place changes, and equals the digest of a store restored from its snapshot', () => {
    const replica = new TestReplica();
    const a = new CartStore();
    const b = new CartStore();
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 2000; step++) {
      const id = `c${rnd(50)}`;
      const op = rnd(10);
      replica.apply(() => {
        for (const s of [a, b]) {
          if (op < 6) s.set(id, step);
          else if (op < 8) s.delete(id);
        }
      });
      if (rnd(7) === 0) {
        const restored = new CartStore();
        restored.restore(a.snapshot());
        expect([step, a.digest()]).toEqual([step, restored.digest()]);
        expect(b.digest()).toBe(a.digest());
      }
    }
    const before = a.digest();
    // A value changed in place by a handler that read it during apply is seen.
    const boxes = new (class extends InMemoryStore<{ n: number }> {})();
    replica.apply(() => boxes.set('x', { n: 1 }));
    const d1 = boxes.digest();
    replica.apply(() => {
      boxes.get('x')!.n = 2;
    });
    expect(boxes.digest()).not.toBe(d1);
    // A different value on one replica gives a different digest.
    replica.apply(() => b.set('c1', -1));
    expect(b.digest()).not.toBe(before);
    expect(a.digest()).toBe(before);
  });
});

describe("an InMemoryStore's snapshot serialised in slices", () => {
  type Cart = { items: number };

  @ReplicatedState('shop.baskets')
  @Injectable()
  class BasketStore extends InMemoryStore<Cart> {}

  function drain(cursor: ReturnType<BasketStore['openSnapshot']>, slice: number, between: () => void): string {
    const parts: string[] = [];
    for (let text = cursor.next(slice); text !== null; text = cursor.next(slice)) {
      parts.push(text);
      between();
    }
    return `${cursor.open}${parts.join(',')}${cursor.close}`;
  }

  function baskets(n: number): { replica: TestReplica; store: BasketStore } {
    const replica = new TestReplica();
    const store = new BasketStore();
    replica.apply(() => {
      for (let i = 0; i < n; i++) store.set(`b${i}`, { items: i });
    });
    return { replica, store };
  }

  it('is the state at the moment it began, whatever applies change, delete, add or change in place meanwhile', () => {
    const { replica, store } = baskets(50);
    const expected = JSON.stringify(store.snapshot());
    let step = 0;
    const text = drain(store.openSnapshot(), 7, () => {
      step++;
      replica.apply(() => {
        store.set(`b${(step * 13) % 50}`, { items: -step }); // replaced, served or not yet
        store.delete(`b${(step * 29) % 50}`);
        store.set(`new${step}`, { items: step }); // added after the snapshot began: not in it
        const cart = store.get(`b${(step * 7) % 50}`);
        if (cart !== undefined) cart.items += 1000; // changed in place
      });
    });
    expect(text).toBe(expected);
    expect(JSON.parse(text)).toHaveLength(50);
    expect(store.get('new1')).toEqual({ items: 1 }); // the live store moved on
  });

  it('keeps every item when an apply iterates the store (values may be changed in place)', () => {
    const { replica, store } = baskets(20);
    const expected = JSON.stringify(store.snapshot());
    const text = drain(store.openSnapshot(), 3, () =>
      replica.apply(() => {
        for (const cart of store.values()) cart.items++;
      }),
    );
    expect(text).toBe(expected);
  });

  it('is dropped by a restore: the next slice refuses rather than mix two states', () => {
    const replica = new TestReplica();
    const store = new BasketStore();
    replica.apply(() => store.set('b1', { items: 1 }));
    const cursor = store.openSnapshot();
    store.restore([['other', { items: 9 }]]);
    expect(() => cursor.next(10)).toThrow(/dropped/);
  });
});
