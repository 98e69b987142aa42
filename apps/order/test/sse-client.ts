import * as http from 'node:http';
import type { Product } from '../src/domain/product';

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** An event stream client: parses events as they come; `ended` once the server ended the response. */
export class SseClient {
  readonly events: SseEvent[] = [];
  ended = false;
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  private buffer = '';
  private req: http.ClientRequest | null = null;

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    return new Promise((resolve, reject) => {
      c.req = http.request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        c.status = res.statusCode ?? 0;
        c.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (c.status !== 200) c.body += chunk;
          else c.feed(chunk);
        });
        res.on('end', () => (c.ended = true));
        res.on('close', () => (c.ended = true));
        res.on('error', () => (c.ended = true));
        resolve(c);
      });
      c.req.on('error', (err) => (c.status === 0 ? reject(err) : (c.ended = true)));
      c.req.end();
    });
  }

  /** The values (data events) as products, with their ids. */
  products(): { index: number; product: Product }[] {
    return this.events.filter((e) => e.event === 'message').map((e) => ({ index: Number(e.id), product: JSON.parse(e.data) as Product }));
  }

  close(): void {
    this.req?.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const e: SseEvent = { id: null, event: 'message', data: '' };
      let hasData = false;
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) {
          e.data += line.slice(6);
          hasData = true;
        }
      }
      if (hasData) this.events.push(e);
    }
  }
}
