import { HttpException } from '@nestjs/common';
import { PostMessageCommand } from '../src/post-message/post-message.command';
import { PostMessageHandler } from '../src/post-message/post-message.handler';
import { applyPost, newLog, post } from './support';
import type { EventBus } from '@nestjs/cqrs';
import { MessagePostedEvent } from '../src/post-message/message-posted.event';

/** The events a handler publishes, kept in `published`. */
const published: object[] = [];
const bus = (): EventBus => ({ publish: (e: object) => void published.push(e) }) as unknown as EventBus;

describe('PostMessageHandler (run as the bridge applies it)', () => {
  beforeEach(() => (published.length = 0));

  it('stores a message at the entry index with the leader timestamp', async () => {
    const log = newLog();
    const handler = new PostMessageHandler(log, bus());
    const r = await applyPost(handler, 7, new PostMessageCommand('general', 'alice', 'hi', { alice: 3 }, 'a-1'), 1234);
    expect(r).toEqual({
      duplicate: false,
      message: { msg_id: 'a-1', conv_id: 'general', sender: 'alice', payload: 'hi', vector_clock: { alice: 3 }, commit_index: 7, ts: 1234 },
    });
    expect(log.findByMsgId('a-1')).toEqual(r.message);
    expect(published.at(-1)).toEqual(new MessagePostedEvent(r.message));
  });

  it('stores a repeated msg_id once and answers the first message', async () => {
    const log = newLog();
    const handler = new PostMessageHandler(log, bus());
    const first = await applyPost(handler, 2, post('alice', 'first', 'same'));
    const again = await applyPost(handler, 3, post('bob', 'second', 'same'));
    expect(again).toEqual({ duplicate: true, message: first.message });
    // A repeated msg_id stores nothing and raises nothing.
    expect(published.filter((e) => (e as MessagePostedEvent).message.msg_id === 'same')).toHaveLength(1);
    expect(log.size).toBe(1);
    expect(log.after(0, 10).map((m) => m.payload)).toEqual(['first']);
  });

  it('gives a message without msg_id the same id on every replica', async () => {
    const ids = await Promise.all(
      [newLog(), newLog()].map(async (log) => (await applyPost(new PostMessageHandler(log, bus()), 4, post('alice', 'x'))).message.msg_id),
    );
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps at most maxMessages; an evicted msg_id can be stored again', async () => {
    const log = newLog({ maxMessages: 5 });
    const handler = new PostMessageHandler(log, bus());
    for (let i = 1; i <= 12; i++) await applyPost(handler, i, post('alice', `p${i}`, `id-${i}`));
    expect(log.size).toBe(5);
    expect(log.after(0, 100).map((m) => m.msg_id)).toEqual(['id-8', 'id-9', 'id-10', 'id-11', 'id-12']);
    const again = await applyPost(handler, 13, post('alice', 'back', 'id-1'));
    expect(again.duplicate).toBe(false);
    expect(log.size).toBe(5);
  });

  it('refuses a malformed command with a 400 and changes nothing', async () => {
    const log = newLog();
    const handler = new PostMessageHandler(log, bus());
    const bad = Object.assign(Object.create(PostMessageCommand.prototype) as PostMessageCommand, { convId: 'general', sender: '', payload: 'x', vectorClock: {}, msgId: null });
    await expect(applyPost(handler, 2, bad)).rejects.toBeInstanceOf(HttpException);
    expect(log.size).toBe(0);
  });

  it('refuses to run outside an apply', async () => {
    await expect(new PostMessageHandler(newLog(), bus()).execute(post('a', 'b'))).rejects.toThrow(/apply context/);
  });
});
