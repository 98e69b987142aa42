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
