import { HttpException } from '@nestjs/common';
import { DEFAULT_CHAT_OPTIONS } from '../src/chat.options';
import { MessageStreamHub } from '../src/stream-messages/message-stream.hub';
import { FakeSink, message, newLog } from './support';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MessageStreamHub', () => {
  it('writes appended messages to every stream on the next turn, not inside apply', async () => {
    const log = newLog();
    const hub = new MessageStreamHub(log, { ...DEFAULT_CHAT_OPTIONS });
    const a = new FakeSink();
    const b = new FakeSink();
    hub.open(a, 0);
    hub.open(b, 0);
    log.append(message(1));
    log.append(message(2));
    expect(a.ids).toEqual([]);
    await nextTurn();
    expect(a.ids).toEqual([1, 2]);
    expect(b.ids).toEqual([1, 2]);
    expect(a.chunks.filter((c) => c.includes('id: ')).length).toBe(1);
    hub.onModuleDestroy();
  });

  it('refuses a stream beyond maxStreamClients with a 503, before anything is written', () => {
    const hub = new MessageStreamHub(newLog(), { ...DEFAULT_CHAT_OPTIONS, maxStreamClients: 1 });
    hub.open(new FakeSink(), 0);
    const second = new FakeSink();
    let started = false;
    const refused = (() => {
      try {
        hub.open(second, 0, () => (started = true));
      } catch (err) {
        return err as HttpException;
      }
      return null;
    })();
    expect(refused?.getStatus()).toBe(503);
    expect(started).toBe(false);
    expect(second.chunks).toEqual([]);
    hub.onModuleDestroy();
  });

  it('forgets closed streams and ends the rest at shutdown', async () => {
    const log = newLog();
    const hub = new MessageStreamHub(log, { ...DEFAULT_CHAT_OPTIONS });
    const gone = hub.open(new FakeSink(), 0);
    const stays = new FakeSink();
    hub.open(stays, 0);
    gone.close('client');
    expect(hub.clientCount).toBe(1);
    hub.onModuleDestroy();
    expect(stays.ended).toBe(true);
    expect(hub.clientCount).toBe(0);
    expect(() => hub.open(new FakeSink(), 0)).toThrow(HttpException);
  });
});
