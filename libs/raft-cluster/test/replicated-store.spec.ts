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
