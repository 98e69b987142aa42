import { EventEmitter } from 'node:events';
import { Subscription } from 'rxjs';
import { LiveQueryHub } from '../src/live/live-query-hub';
import { LiveSseSink, LiveSseStream } from '../src/live/live-sse-stream';
import type { LiveQueryEmission } from '../src/live/shared-query';

/*
 * The live query hub without Nest or a cluster: a fake node (a map, an applied index) and a
 * hand-driven event loop, so that every count below is exact.
 */

class StockQuery {
  constructor(readonly productId: string) {}
}

class OtherStockQuery {
  constructor(readonly productId: string) {}
}

class BrokenQuery {
  constructor(readonly why: string) {}
}

class FakeNode {
  readonly stock = new Map<string, number>();
  applied = 0;
  executions = 0;
  /** When set, executions wait for `release()`. */
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  private readonly turns: (() => void)[] = [];
  readonly hub = new LiveQueryHub({
    execute: async (q) => {
      this.executions++;
      if (this.gate !== null) await this.gate;
      if (q instanceof BrokenQuery) throw new Error(`broken: ${q.why}`);
      const id = (q as StockQuery).productId;
      return { id, stock: this.stock.get(id) ?? null };
    },
    appliedIndex: () => this.applied,
    defer: (fn) => this.turns.push(fn),
  });

  /** Applies `n` entries, each setting a stock (or nothing), as the node's apply loop would. */
  apply(changes: [string, number][] | number): void {
    const list = typeof changes === 'number' ? Array.from({ length: changes }, () => null) : changes;
    for (const c of list) {
      this.applied++;
      if (c !== null) this.stock.set(c[0], c[1]);
      this.hub.applied();
    }
  }

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.gate = null;
    this.open();
  }

  /** Runs what was deferred to the next event-loop turn, then lets the evaluations' promises settle. */
  async turn(): Promise<void> {
    const due = this.turns.splice(0);
    for (const fn of due) fn();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }

  get pendingTurns(): number {
    return this.turns.length;
  }
}

function collect(node: FakeNode, query: object): { values: LiveQueryEmission[]; errors: unknown[]; completed: boolean; sub: Subscription } {
  const out = { values: [] as LiveQueryEmission[], errors: [] as unknown[], completed: false, sub: null as unknown as Subscription };
  out.sub = node.hub.watch(query).subscribe({
    next: (v) => out.values.push(v),
    error: (e: unknown) => out.errors.push(e),
    complete: () => (out.completed = true),
  });
  return out;
}

describe('LiveQueryHub', () => {
  it('sends the current value first, then only values whose JSON changed, each with the applied index it reflects', async () => {
    const node = new FakeNode();
    node.apply([['p1', 10]]);
    const w = collect(node, new StockQuery('p1'));
    expect(w.values).toEqual([]);
    await node.turn();
    expect(w.values.map((v) => [v.index, v.value])).toEqual([[1, { id: 'p1', stock: 10 }]]);

    node.apply([['p2', 5]]); // another product: re-evaluated, same JSON, nothing sent
    await node.turn();
    node.apply(3); // entries that change nothing (no-ops, configuration)
    await node.turn();
    expect(w.values).toHaveLength(1);

    node.apply([['p1', 9]]);
    await node.turn();
    node.apply([['p1', 8]]);
    await node.turn();
    expect(w.values.map((v) => [v.index, v.value])).toEqual([
      [1, { id: 'p1', stock: 10 }],
      [6, { id: 'p1', stock: 9 }],
      [7, { id: 'p1', stock: 8 }],
    ]);
    expect(w.values[2].json).toBe('{"id":"p1","stock":8}');
    // A JSON copy, frozen: what one subscriber holds cannot change under another.
    expect(Object.isFrozen(w.values[2].value)).toBe(true);
  });

  it('coalesces: a batch of applies in one turn is one evaluation per distinct query, however many subscribers', async () => {
    const node = new FakeNode();
    node.apply([['p1', 100], ['p2', 100]]);
    const watchers = [];
    for (let i = 0; i < 1000; i++) watchers.push(collect(node, new StockQuery(i % 2 === 0 ? 'p1' : 'p2'))); // new instances, same fields
    const other = collect(node, new OtherStockQuery('p1')); // same fields, another class: its own evaluation
    await node.turn();
    expect(node.hub.stats()).toEqual({ queries: 3, subscribers: 1001, evaluations: 3, rounds: 1 });
    expect(watchers.every((w) => w.values.length === 1)).toBe(true);

    // 200 entries applied in one turn: one round, three evaluations.
    node.apply(Array.from({ length: 200 }, (_, i) => ['p1', 99 - (i % 50)] as [string, number]));
    expect(node.pendingTurns).toBe(1);
    await node.turn();
    expect(node.hub.stats()).toMatchObject({ evaluations: 6, rounds: 2 });
    // Only the last state is sent: the intermediate values of the batch are skipped.
    const p1 = watchers[0].values;
    expect(p1.map((v) => v.value)).toEqual([{ id: 'p1', stock: 100 }, { id: 'p1', stock: 50 }]);
    expect(p1[1].index).toBe(202);
    expect(watchers[1].values).toHaveLength(1); // p2 did not change
    expect(other.values).toHaveLength(2);
  });

  it('never runs two evaluations of one query at once; applies during one are picked up by the next', async () => {
    const node = new FakeNode();
    node.apply([['p1', 1]]);
    const w = collect(node, new StockQuery('p1'));
    node.hold();
    await node.turn();
    expect(node.executions).toBe(1);
    node.apply([['p1', 2]]);
    await node.turn();
    node.apply([['p1', 3]]);
    await node.turn();
    expect(node.executions).toBe(1); // still the first one in flight
    node.release();
    await node.turn(); // the first one settles (it read stock 3), and asks for another round
    await node.turn();
    expect(node.executions).toBe(2);
    // The first evaluation began at index 1 and read a later state: its index is a lower bound.
    expect(w.values.map((v) => [v.index, v.value])).toEqual([[1, { id: 'p1', stock: 3 }]]);
    node.apply([['p1', 4]]);
    await node.turn();
    expect(w.values.map((v) => v.index)).toEqual([1, 4]);
  });

  it('gives a late subscriber the current value at once, without evaluating', async () => {
    const node = new FakeNode();
    node.apply([['p1', 7]]);
    collect(node, new StockQuery('p1'));
    await node.turn();
    const late = collect(node, new StockQuery('p1'));
    expect(late.values.map((v) => [v.index, v.value])).toEqual([[1, { id: 'p1', stock: 7 }]]);
    expect(node.executions).toBe(1);
    // After an apply the cached value may be stale: a newcomer waits for the next evaluation instead.
    node.apply([['p1', 6]]);
    const later = collect(node, new StockQuery('p1'));
    expect(later.values).toEqual([]);
    await node.turn();
    expect(later.values.map((v) => [v.index, v.value])).toEqual([[2, { id: 'p1', stock: 6 }]]);
  });

  it('a query that throws ends its own subscribers with the error; other queries go on', async () => {
    const node = new FakeNode();
    node.apply([['p1', 1]]);
    const ok = collect(node, new StockQuery('p1'));
    const broken = [collect(node, new BrokenQuery('x')), collect(node, new BrokenQuery('x'))];
    await node.turn();
    expect(broken.map((b) => (b.errors[0] as Error).message)).toEqual(['broken: x', 'broken: x']);
    expect(ok.errors).toEqual([]);
    expect(node.hub.stats()).toMatchObject({ queries: 1, subscribers: 1 });
    node.apply([['p1', 2]]);
    await node.turn();
    expect(ok.values.map((v) => v.value)).toEqual([{ id: 'p1', stock: 1 }, { id: 'p1', stock: 2 }]);
  });

  it('a value JSON cannot write is the query error', async () => {
    const hub = new LiveQueryHub({ execute: async () => ({ n: 1n }), appliedIndex: () => 1 });
    const err = await new Promise((resolve) => hub.watch(new StockQuery('p')).subscribe({ error: resolve }));
    expect(String(err)).toMatch(/BigInt/);
    expect(hub.stats().queries).toBe(0);
  });

  it('unsubscribing the last subscriber drops the query: no evaluation after, and one in flight is ignored', async () => {
    const node = new FakeNode();
    const a = collect(node, new StockQuery('p1'));
    const b = collect(node, new StockQuery('p1'));
    await node.turn();
    a.sub.unsubscribe();
    expect(node.hub.stats()).toMatchObject({ queries: 1, subscribers: 1 });
    node.hold();
    node.apply([['p1', 5]]);
    await node.turn();
    expect(node.executions).toBe(2);
    b.sub.unsubscribe();
    expect(node.hub.stats()).toMatchObject({ queries: 0, subscribers: 0 });
    node.release();
    await node.turn();
    expect(b.values).toHaveLength(1); // the evaluation in flight settled into nothing
    node.apply([['p1', 6]]);
    expect(node.pendingTurns).toBe(0); // nothing watched: applies cost a counter increment
    await node.turn();
    expect(node.executions).toBe(2);
  });

  it('close completes every subscription, and later ones at once', async () => {
    const node = new FakeNode();
    const w = collect(node, new StockQuery('p1'));
    await node.turn();
    node.hub.close();
    expect(w.completed).toBe(true);
    expect(collect(node, new StockQuery('p1')).completed).toBe(true);
    expect(node.hub.stats()).toMatchObject({ queries: 0, subscribers: 0 });
  });
});

/** A socket that takes `capacity` writes, then reports back-pressure until `drain()`. */
class SlowSink extends EventEmitter implements LiveSseSink {
  readonly written: string[] = [];
  destroyed = false;
  writableEnded = false;
  constructor(private capacity: number) {
    super();
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return --this.capacity > 0;
  }
  end(): void {
    this.writableEnded = true;
  }
  drain(capacity: number): void {
    this.capacity = capacity;
    this.emit('drain');
  }
}

describe('LiveSseStream', () => {
  it('keeps only the newest value while the socket is backed up, and writes it on drain', () => {
    const sink = new SlowSink(2);
    const stream = new LiveSseStream(sink, () => undefined);
    stream.send('id: 1\ndata: 1\n\n');
    stream.send('id: 2\ndata: 2\n\n'); // fills the buffer
    for (let i = 3; i <= 100; i++) {
      stream.send(`id: ${i}\ndata: ${i}\n\n`);
      expect(stream.buffered).toBeLessThanOrEqual(1);
    }
    stream.ping(); // not while backed up
    expect(sink.written).toEqual(['id: 1\ndata: 1\n\n', 'id: 2\ndata: 2\n\n']);
    expect(stream.skipped).toBe(97);
    sink.drain(10);
    expect(sink.written.at(-1)).toBe('id: 100\ndata: 100\n\n');
    expect(stream.buffered).toBe(0);
  });

  it('ends once: unsubscribes, writes its last words, ends the response and reports itself', () => {
    const sink = new SlowSink(10);
    const ended: LiveSseStream[] = [];
    const stream = new LiveSseStream(sink, (s) => ended.push(s));
    const sub = new Subscription();
    stream.attach(sub);
    stream.end('event: query-error\ndata: {}\n\n');
    stream.end();
    expect(sub.closed).toBe(true);
    expect(sink.writableEnded).toBe(true);
    expect(sink.written).toEqual(['event: query-error\ndata: {}\n\n']);
    expect(ended).toEqual([stream]);
    stream.send('id: 9\ndata: 9\n\n');
    expect(sink.written).toHaveLength(1);
  });
});
