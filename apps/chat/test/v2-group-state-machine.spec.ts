import { HttpException } from '@nestjs/common';
import { EntryType } from '@raft-cqrs/raft';
import type { Entry } from '@raft-cqrs/raft';
import { encodeGroupPost, GroupPostEntry, GroupStateMachine } from '../src/groups/group-state-machine';

const LIMITS = { maxMessages: 1000, maxLogBytes: 1 << 30 };

function entry(index: number, e: Partial<Omit<GroupPostEntry, 'm'>> & { m?: Partial<GroupPostEntry['m']> } = {}): Entry {
  const full: GroupPostEntry = {
    v: 1,
    k: 'post',
    r: e.r ?? null,
    ts: e.ts ?? 1_700_000_000_000 + index,
    id: e.id ?? `uuid-${index}`,
    m: { conv_id: 'alpha', sender: 'alice', payload: `hello ${index}`, vector_clock: {}, msg_id: null, ...(e.m ?? {}) },
  };
  return { index, term: 1, type: EntryType.Normal, data: encodeGroupPost(full) } as Entry;
}

function apply(sm: GroupStateMachine, e: Entry): unknown {
  try {
    return sm.apply(e, { index: e.index, term: e.term });
  } catch (err) {
    return err;
  }
}

describe('v2 group state machine (one conversation group)', () => {
  it('stores a message at its entry index with the leader ts and id; a repeated msg_id answers the first', () => {
    const sm = new GroupStateMachine('alpha', LIMITS);
    expect(apply(sm, entry(2))).toEqual({ duplicate: false, message: { msg_id: 'uuid-2', conv_id: 'alpha', sender: 'alice', payload: 'hello 2', vector_clock: {}, commit_index: 2, ts: 1_700_000_000_002 } });
    const first = apply(sm, entry(3, { m: { msg_id: 'm-1' } })) as { message: unknown };
    expect(apply(sm, entry(4, { m: { msg_id: 'm-1', payload: 'other' } }))).toEqual({ duplicate: true, message: first.message });
    expect(sm.log.size).toBe(2);
  });

  it('answers a retried request id with its first outcome, and a reused one with 422', () => {
    const sm = new GroupStateMachine('alpha', LIMITS);
    const first = apply(sm, entry(2, { r: 'req-1' }));
    expect(apply(sm, entry(5, { r: 'req-1', id: 'another-uuid', m: { payload: 'hello 2' } }))).toEqual(first);
    expect(sm.log.size).toBe(1);
    const reused = apply(sm, entry(6, { r: 'req-1', m: { payload: 'different' } })) as HttpException;
    expect(reused.getStatus()).toBe(422);
    // A bad field is an outcome too: the same 400 on every node, and again on a retry.
    const bad = apply(sm, entry(7, { r: 'req-2', m: { sender: '', payload: 'p' } })) as HttpException;
    expect(bad.getStatus()).toBe(400);
    expect((apply(sm, entry(8, { r: 'req-2', m: { sender: '', payload: 'p' } })) as HttpException).getResponse()).toEqual(bad.getResponse());
    expect(sm.log.size).toBe(1);
  });

  it('bounds the request table, oldest first', () => {
    const sm = new GroupStateMachine('alpha', LIMITS, 3);
    for (let i = 1; i <= 5; i++) apply(sm, entry(i, { r: `r${i}` }));
    expect(sm.requestCount).toBe(3);
    // r1 was forgotten: applied again as a new message.
    apply(sm, entry(6, { r: 'r1' }));
    expect(sm.log.size).toBe(6);
  });

  it('snapshot and restore give the same state, and replaying the same entries gives the same answers', () => {
    const entries = [entry(2, { r: 'a' }), entry(3, { m: { msg_id: 'x' } }), entry(4, { m: { msg_id: 'x' } }), entry(5, { r: 'a', m: { payload: 'hello 2' } })];
    const one = new GroupStateMachine('alpha', LIMITS);
    const two = new GroupStateMachine('alpha', LIMITS);
    const answers1 = entries.map((e) => apply(one, e));
    const answers2 = entries.map((e) => apply(two, e));
    expect(answers2).toEqual(answers1);
    const copy = new GroupStateMachine('alpha', LIMITS);
    copy.restore(one.snapshot());
    expect(copy.log.after(0, 100)).toEqual(one.log.after(0, 100));
    expect(answers1[3]).toEqual(answers1[0]);
    expect(apply(copy, entry(9, { r: 'a', m: { payload: 'hello 2' } }))).toEqual(answers1[0]);
    copy.restore(new Uint8Array(0));
    expect(copy.log.size).toBe(0);
  });

  it('refuses an entry that is not a post without changing anything', () => {
    const sm = new GroupStateMachine('alpha', LIMITS);
    const junk = { index: 2, term: 1, type: EntryType.Normal, data: new TextEncoder().encode('not json') } as Entry;
    expect(apply(sm, junk)).toBeInstanceOf(HttpException);
    expect(sm.log.size).toBe(0);
  });
});
