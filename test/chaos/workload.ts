/**
 * The chaos clients. Order clients (several per host) set stock, order, cancel and read products;
 * chat posters post messages; stream readers follow each chat node's SSE stream. Every operation is
 * recorded with invoke / complete times and an outcome:
 *
 *  - writes (PUT /products/:id, POST /orders, POST /orders/:id/cancel, POST /api/v1/message) carry
 *    one Idempotency-Key (or msg_id) and are retried with it on 503, timeouts and connection errors,
 *    first on the client's own host and then on the others, until a definite answer or a deadline.
 *    The recorded interval spans every attempt: the key makes them one operation applied at most
 *    once, somewhere in that interval. No definite answer by the deadline: `unknown` if any attempt
 *    may have reached a node, else `fail`.
 *  - linearizable reads (`?consistency=linearizable`) are not retried: ok or fail/unknown (no
 *    constraint); local reads are recorded as `read-local` and not judged for linearizability.
 *
 * Many products, a few active at a time (a window of `windowMs`), keep every product's history to a
 * few hundred operations so the linearizability search stays cheap.
 */
import { Rng } from '@raft-cqrs/raft/testing';
import { atMost, call, json, sleep } from './http';
import type { Clock, Op, OpKind, ProductState } from './history';
import type { Nodes } from './nodes';

export interface WorkloadOptions {
  hosts: number;
  orderClientsPerHost: number;
  windowMs: number;
  productsPerWindow: number;
  /** Windows the run lasts (products are created for all of them up front). */
  windows: number;
  /** Pause between one client's operations. */
  paceMs: number;
  requestTimeoutMs: number;
  writeDeadlineMs: number;
  chat: boolean;
  chatPaceMs: number;
}

export interface StreamEvent {
  commitIndex: number;
  msgId: string;
  /** ms since the run's start. */
  at: number;
}

export interface StreamRecord {
  host: number;
  events: StreamEvent[];
  connects: number;
  problems: string[];
}

export const INITIAL_STOCK = 10;

export function productName(window: number, j: number): string {
  return `w${window}-p${j}`;
}

interface LiveOrder {
  orderId: string;
  product: string;
  quantity: number;
}

export class Workload {
  readonly ops: Op[] = [];
  readonly streams: StreamRecord[] = [];
  private stopped = false;
  private readonly running: Promise<void>[] = [];
  private readonly readers: Promise<void>[] = [];
  private nextOpId = 0;
  private nextClient = 0;
  private origin = 0;
  private readonly streamAborts: (() => void)[] = [];

  constructor(
    private readonly opts: WorkloadOptions,
    private readonly nodes: Nodes,
    private readonly clock: Clock,
    private readonly rng: Rng,
    private readonly runTag: string,
  ) {}

  get products(): string[] {
    const out: string[] = [];
    for (let w = 0; w < this.opts.windows; w++) for (let j = 0; j < this.opts.productsPerWindow; j++) out.push(productName(w, j));
    return out;
  }

  private activeWindow(): number {
    return Math.min(this.opts.windows - 1, Math.floor((this.clock.now() - this.origin) / this.opts.windowMs));
  }

  private newOp(client: number, host: number, kind: OpKind, fields: Partial<Op>): Op {
    const op: Op = { id: this.nextOpId++, client, host, kind, outcome: 'unknown', invoke: this.clock.now(), complete: null, attempts: 0, tried: [], lastStatus: 0, ...fields };
    this.ops.push(op);
    return op;
  }

  /** Creates every product of the run (stock INITIAL_STOCK), recorded as ordinary puts. */
  async createProducts(concurrency = 12): Promise<void> {
    const queue = this.products;
    const client = this.nextClient++;
    const workers = Array.from({ length: concurrency }, async (_, w) => {
      for (;;) {
        const product = queue.shift();
        if (product === undefined) return;
        const op = this.newOp(client, 1 + (w % this.opts.hosts), 'put', { product, value: INITIAL_STOCK, key: `${this.runTag}-create-${product}` });
        const res = await this.write(op, 'order', 'PUT', `/products/${product}`, { stock: INITIAL_STOCK }, 30_000);
        if (typeof res?.reserved === 'number') op.observed = res.reserved;
        if (op.outcome !== 'ok') throw new Error(`chaos: could not create product ${product} before the faults (${op.outcome} ${op.error ?? ''})`);
      }
    });
    await Promise.all(workers);
  }

  start(): void {
    this.origin = this.clock.now();
    for (let h = 1; h <= this.opts.hosts; h++) {
      for (let c = 0; c < this.opts.orderClientsPerHost; c++) this.running.push(this.orderClient(h, this.rng.fork()));
      if (this.opts.chat) {
        this.running.push(this.chatPoster(h));
        this.readers.push(this.streamReader(h));
      }
    }
  }

  /** Stops issuing operations and waits (bounded) for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await atMost(Promise.all(this.running), this.opts.writeDeadlineMs + 5000);
  }

  /** Closes the stream readers (after the final checks have let them catch up). */
  async closeStreams(): Promise<void> {
    for (const abort of this.streamAborts) abort();
    await atMost(Promise.all(this.readers), 2000);
  }

  // ------------------------------------------------------------------ writes with retries

  /**
   * One write with one key, retried until a definite answer or the deadline. Definite: 2xx (ok), and
   * 4xx (fail: the command was refused, with the error code). 503 / no answer: retried.
   */
  async write(op: Op, app: 'order' | 'chat', method: string, urlPath: string, body: unknown, deadlineMs = this.opts.writeDeadlineMs): Promise<Record<string, unknown> | null> {
    const deadline = op.invoke + deadlineMs;
    let maybeSent = false;
    for (let attempt = 0; ; attempt++) {
      // Twice on the client's own host, then round the others.
      const host = attempt < 2 ? op.host : 1 + ((op.host - 1 + attempt - 1) % this.opts.hosts);
      op.attempts++;
      op.tried.push(host);
      const a = await call(this.nodes.clientUrl(app, host) + urlPath, {
        method,
        body,
        headers: op.key !== undefined ? { 'idempotency-key': op.key } : {},
        timeoutMs: this.opts.requestTimeoutMs,
      });
      op.lastStatus = a.status;
      if (a.sent) maybeSent = true;
      if (a.status >= 200 && a.status < 300) {
        op.outcome = 'ok';
        op.complete = this.clock.now();
        return json(a);
      }
      // 409 not_leader is "ask again elsewhere", not an answer about the command.
      const notLeader = a.status === 409 && json(a)?.error === 'not_leader';
      if (a.status >= 400 && a.status < 500 && !notLeader) {
        op.outcome = 'fail';
        op.complete = this.clock.now();
        op.error = String(json(a)?.error ?? a.status);
        return json(a);
      }
      if (this.clock.now() > deadline) {
        op.error = a.error ?? `http ${a.status}`;
        if (maybeSent) {
          op.outcome = 'unknown';
          op.complete = null;
        } else {
          op.outcome = 'fail';
          op.complete = this.clock.now();
        }
        return null;
      }
      const retryAfter = Number(a.headers['retry-after']);
      const backoff = Math.min(50 * 2 ** Math.min(attempt, 4), 400);
      await sleep(a.status === 503 && Number.isFinite(retryAfter) ? Math.min(retryAfter * 1000, backoff) : backoff);
    }
  }

  // ------------------------------------------------------------------ order clients

  private async orderClient(host: number, rng: Rng): Promise<void> {
    const client = this.nextClient++;
    const live: LiveOrder[] = [];
    let n = 0;
    while (!this.stopped) {
      const w = this.activeWindow();
      const product = productName(w, rng.int(0, this.opts.productsPerWindow - 1));
      const r = rng.next();
      const key = `${this.runTag}-c${client}-${n++}`;
      const mine = live.filter((o) => o.product.startsWith(`w${w}-`));
      if (r < 0.12) {
        const stock = rng.int(0, 12);
        const op = this.newOp(client, host, 'put', { product, value: stock, key });
        const res = await this.write(op, 'order', 'PUT', `/products/${product}`, { stock });
        if (op.outcome === 'ok' && typeof res?.reserved === 'number') op.observed = res.reserved;
      } else if (r < 0.66 || (r < 0.8 && mine.length === 0)) {
        const quantity = rng.int(1, 3);
        const op = this.newOp(client, host, 'order', { product, value: quantity, key });
        const res = await this.write(op, 'order', 'POST', '/orders', { productId: product, quantity, customerId: `c${client}` });
        if (op.outcome === 'ok' && res !== null && typeof res.orderId === 'string') {
          op.orderId = res.orderId;
          if (res.productId !== product || res.quantity !== quantity) op.error = `answer mismatch: ${JSON.stringify(res)}`;
          live.push({ orderId: res.orderId, product, quantity });
        } else if (op.outcome === 'fail' && typeof res?.available === 'number') {
          op.observed = res.available;
        }
      } else if (r < 0.8) {
        const target = mine[rng.int(0, mine.length - 1)];
        live.splice(live.indexOf(target), 1);
        const op = this.newOp(client, host, 'cancel', { product: target.product, value: target.quantity, orderId: target.orderId, key });
        await this.write(op, 'order', 'POST', `/orders/${target.orderId}/cancel`, {});
      } else {
        const local = r >= 0.95;
        const op = this.newOp(client, host, local ? 'read-local' : 'read', { product });
        await this.read(op, local);
      }
      await sleep(this.opts.paceMs);
    }
  }

  async read(op: Op, local: boolean): Promise<void> {
    op.attempts = 1;
    op.tried.push(op.host);
    const a = await call(`${this.nodes.clientUrl('order', op.host)}/products/${op.product}${local ? '' : '?consistency=linearizable'}`, { timeoutMs: this.opts.requestTimeoutMs });
    op.lastStatus = a.status;
    const body = json(a);
    if (a.status === 200 && body !== null && typeof body.stock === 'number' && typeof body.reserved === 'number') {
      op.outcome = 'ok';
      op.complete = this.clock.now();
      op.read = { stock: body.stock, reserved: body.reserved } satisfies ProductState;
    } else if (a.status >= 400 && a.status < 500) {
      op.outcome = 'fail';
      op.complete = this.clock.now();
      op.error = String(body?.error ?? a.status);
    } else {
      op.outcome = a.sent ? 'unknown' : 'fail';
      op.complete = a.sent ? null : this.clock.now();
      op.error = a.error ?? `http ${a.status}`;
    }
  }

  // ------------------------------------------------------------------ chat

  private async chatPoster(host: number): Promise<void> {
    const client = this.nextClient++;
    let n = 0;
    while (!this.stopped) {
      const msgId = `${this.runTag}-m${client}-${n}`;
      const op = this.newOp(client, host, 'chat-post', { msgId, key: msgId });
      const res = await this.write(op, 'chat', 'POST', '/api/v1/message', { conv_id: 'general', sender: `s${client}`, payload: `payload ${n} from ${client}`, msg_id: msgId });
      if (op.outcome === 'ok' && res !== null) {
        op.commitIndex = typeof res.commit_index === 'number' ? res.commit_index : undefined;
        if (res.msg_id !== msgId) op.error = `answer has msg_id ${String(res.msg_id)}`;
      }
      n++;
      await sleep(this.opts.chatPaceMs);
    }
  }

  /** Follows one chat node's stream, resuming with Last-Event-ID after every disconnect. */
  private async streamReader(host: number): Promise<void> {
    const rec: StreamRecord = { host, events: [], connects: 0, problems: [] };
    this.streams.push(rec);
    let closed = false;
    let current: (() => void) | null = null;
    this.streamAborts.push(() => {
      closed = true;
      current?.();
    });
    const http = await import('node:http');
    while (!closed) {
      const last = rec.events.length > 0 ? rec.events[rec.events.length - 1].commitIndex : null;
      rec.connects++;
      await new Promise<void>((resolve) => {
        const req = http.get(`${this.nodes.clientUrl('chat', host)}/api/v1/stream`, { headers: last === null ? {} : { 'last-event-id': String(last) } }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            res.on('end', resolve);
            res.on('error', () => resolve());
            return;
          }
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
              const block = buf.slice(0, cut);
              buf = buf.slice(cut + 2);
              this.onSseBlock(rec, block);
            }
          });
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        });
        current = () => req.destroy();
        req.on('error', () => resolve());
        req.on('close', () => resolve());
      });
      current = null;
      if (!closed) await sleep(250);
    }
  }

  private onSseBlock(rec: StreamRecord, block: string): void {
    let event = 'message';
    let data = '';
    let id: string | null = null;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
      else if (line.startsWith('id:')) id = line.slice(3).trim();
    }
    if (event === 'truncated') {
      rec.problems.push(`truncated event: ${data}`);
      return;
    }
    if (event !== 'message' || data === '') return;
    try {
      const m = JSON.parse(data) as { msg_id: string; commit_index: number };
      if (id !== null && Number(id) !== m.commit_index) rec.problems.push(`event id ${id} but commit_index ${m.commit_index}`);
      rec.events.push({ commitIndex: m.commit_index, msgId: m.msg_id, at: this.clock.now() });
    } catch {
      rec.problems.push(`unparsable event data: ${data.slice(0, 200)}`);
    }
  }
}
