import * as http from 'node:http';
import * as net from 'node:net';
import { DEFAULT_CHAT_OPTIONS } from '../src/chat.options';
import { MessageStreamHub } from '../src/stream-messages/message-stream.hub';
import { SseSink, SseSubscriber } from '../src/stream-messages/sse-subscriber';
import { message, newLog } from './support';

/** Real sockets on loopback: what a stream buffers is bounded whether its client reads or not. */
describe('streams over real sockets', () => {
  const bufferBytes = 64 * 1024;
  const log = newLog();
  const hub = new MessageStreamHub(log, { ...DEFAULT_CHAT_OPTIONS, streamBufferBytes: bufferBytes, heartbeatMs: 200 });
  let server: http.Server;
  let port = 0;
  const opened: { subscriber: SseSubscriber; maxBuffered: number }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const entry = { subscriber: null as unknown as SseSubscriber, maxBuffered: 0 };
      const sink: SseSink = {
        get writableLength() {
          return res.writableLength;
        },
        get destroyed() {
          return res.destroyed;
        },
        write: (chunk) => {
          const ok = res.write(chunk);
          entry.maxBuffered = Math.max(entry.maxBuffered, res.writableLength);
          return ok;
        },
        once: (event, listener) => res.once(event, listener),
        end: () => res.end(),
        destroy: () => res.destroy(),
      };
      entry.subscriber = hub.open(sink, 0);
      opened.push(entry);
      res.on('close', () => entry.subscriber.close('client'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    hub.onModuleDestroy();
    await new Promise((r) => server.close(r));
  });

  function connect(): net.Socket {
    const socket = net.connect(port, '127.0.0.1');
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    return socket;
  }

  it('delivers everything in order to a client that reads, and disconnects one that does not', async () => {
    const reader = connect();
    let received = '';
    reader.setEncoding('utf8');
    reader.on('data', (c: string) => (received += c));
    const stuck = connect();
    stuck.pause();
    await new Promise<void>((r) => {
      const check = (): void => (opened.length === 2 ? r() : void setTimeout(check, 5));
      check();
    });

    const count = 2000;
    const payload = 'x'.repeat(4096);
    for (let i = 1; i <= count; i++) log.append(message(i, { payload }));

    const stuckEntry = opened[1];
    await new Promise<void>((resolve) => {
      const check = (): void => (stuckEntry.subscriber.closeReason !== null ? resolve() : void setTimeout(check, 20));
      check();
    });
    expect(stuckEntry.subscriber.closeReason).toBe('stalled');
    // Never more than the bound plus one batch of events in user space.
    expect(stuckEntry.maxBuffered).toBeLessThan(bufferBytes + 256 * 4500);

    await new Promise<void>((resolve) => {
      const check = (): void => (received.includes(`id: ${count}\n`) ? resolve() : void setTimeout(check, 20));
      check();
    });
    const ids = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(opened[0].subscriber.closeReason).toBeNull();
    reader.destroy();
    stuck.destroy();
  });
});
