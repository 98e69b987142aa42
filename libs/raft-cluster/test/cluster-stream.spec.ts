import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { ServerResponse } from 'node:http';
import { Subject } from 'rxjs';
import { RaftClusterService } from '../src';
import type { ClusterStatus } from '../src';
import type { RaftClusterEvent } from '../src';
import {
  ClusterStreamController,
  STREAM_MAX_BUFFERED_BYTES,
  STREAM_PING_MS,
  STREAM_POLL_MS,
} from '../src/controllers/cluster-stream.controller';
import { CapturingLogger, freePort, startNode, TestKv, TestNode, waitFor } from './support';

jest.setTimeout(30_000);

interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

function parseFrames(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((f) => f.trim() !== '')
    .map((frame) => {
      const e: SseEvent = {};
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) e.comment = line.slice(1).trim();
        const m = /^(event|id|data|retry): ?(.*)$/.exec(line);
        if (m !== null) e[m[1] as 'event' | 'id' | 'data' | 'retry'] = m[2];
      }
      return e;
    });
}

/** An open SSE connection that collects everything it receives. */
class SseClient {
  text = '';
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  private req: http.ClientRequest;
  readonly ready: Promise<void>;

  constructor(url: string) {
    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.req = http.get(url, { agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (this.text += c));
      res.on('end', () => (this.ended = true));
      res.on('close', () => (this.ended = true));
      ready();
    });
    this.req.on('error', (e) => {
      this.ended = true;
      failed(e);
    });
  }

  statuses(): ClusterStatus[] {
    return parseFrames(this.text)
      .filter((e) => e.event === 'status')
      .map((e) => JSON.parse(e.data!) as ClusterStatus);
  }

  frames(): SseEvent[] {
    return parseFrames(this.text);
  }

  close(): void {
    this.req.destroy();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('GET /cluster/stream on a single in-memory node', () => {
  const logger = new CapturingLogger();
  let node: TestNode;
  let controller: ClusterStreamController;

  beforeAll(async () => {
    const port = await freePort();
    node = await startNode(
      'solo',
      port,
      { members: [`solo=http://127.0.0.1:${port}`], insecurePeers: true, electionTimeout: [100, 200], heartbeatInterval: 20 },
      logger,
    );
    await waitFor('solo to lead', () => node.cluster.isLeader);
    controller = node.app.get(ClusterStreamController);
  });

  afterAll(async () => {
    await node?.app.close();
  });

  it('sends the status at connect, then only on change', async () => {
    const c = new SseClient(`${node.url}/cluster/stream`);
    await c.ready;
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.headers['cache-control']).toMatch(/no-cache/);
    expect(c.headers['access-control-allow-origin']).toBe('*');
    await waitFor('the first status event', () => c.statuses().length === 1);
    const first = c.statuses()[0];
    expect(first).toMatchObject({ memberId: 'solo', role: 'leader', isLeader: true, leaderId: 'solo', leaderUrl: node.url });
    expect(first.members).toEqual([expect.objectContaining({ id: 'solo', url: node.url, voter: true, reachable: true })]);
    expect(Object.keys(first).sort()).toEqual(Object.keys(node.cluster.status()).sort());
    const frames = c.frames();
    expect(frames[0].retry).toBeDefined();
    expect(frames.find((f) => f.event === 'status')!.id).toBe(String(first.commitIndex));

    // Idle: nothing changes, nothing is sent.
    await sleep(STREAM_POLL_MS * 4);
    expect(c.statuses()).toHaveLength(1);

    // A write changes the indexes: one more event (at least), the newest matching status().
    await node.cluster.propose(TestKv.put('a', '1'));
    await waitFor('a status with the new commit index', () => c.statuses().some((s) => s.commitIndex > first.commitIndex && s.lastApplied === s.commitIndex));
    const latest = c.statuses().at(-1)!;
    expect(latest.commitIndex).toBe(node.cluster.status().commitIndex);
    const n = c.statuses().length;
    await sleep(STREAM_POLL_MS * 3);
    expect(c.statuses()).toHaveLength(n);

    // Every client gets its own first event; the timers stop when the last one leaves.
    const d = new SseClient(`${node.url}/cluster/stream`);
    await d.ready;
    await waitFor('the second client to get the status', () => d.statuses().length === 1);
    expect(d.statuses()[0].commitIndex).toBe(latest.commitIndex);
    expect(controller.clientCount).toBe(2);
    c.close();
    d.close();
    await waitFor('both clients to be gone', () => controller.clientCount === 0);
  });

  it('ends open streams at shutdown instead of holding the server open', async () => {
    const c = new SseClient(`${node.url}/cluster/stream`);
    await c.ready;
    await waitFor('the status event', () => c.statuses().length === 1);
    const t0 = Date.now();
    await node.app.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor('the stream to end', () => c.ended);
    expect(controller.clientCount).toBe(0);
    node = undefined as unknown as TestNode;
  });
});

/** A ServerResponse stand-in: records writes, lets the test set the unsent byte count. */
class FakeResponse extends EventEmitter {
  written: string[] = [];
  statusCode = 0;
  headers: Record<string, string> = {};
  writableLength = 0;
  ended = false;
  destroyed = false;
  socket = null;

  setHeader(name: string, value: string): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  writeHead(status: number, headers: Record<string, string> = {}): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return true;
  }
  end(chunk?: string): this {
    if (chunk !== undefined) this.written.push(chunk);
    this.ended = true;
    this.emit('close');
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
  events(): SseEvent[] {
    return parseFrames(this.written.join(''));
  }
}

function fakeStatus(over: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    memberId: 'a',
    role: 'leader',
    isLeader: true,
    leaderId: 'a',
    leaderUrl: 'http://a',
    term: 1,
    commitIndex: 1,
    lastApplied: 1,
    lastLogIndex: 1,
    snapshotIndex: 0,
    members: [
      { id: 'a', url: 'http://a', voter: true, reachable: true, matchIndex: 1, lastContactMs: 0 },
      { id: 'b', url: 'http://b', voter: true, reachable: true, matchIndex: 1, lastContactMs: 20 },
    ],
    ...over,
  };
}

describe('ClusterStreamController with a fake cluster', () => {
  let status: ClusterStatus;
  let events: Subject<RaftClusterEvent>;
  let controller: ClusterStreamController;

  const connect = (): FakeResponse => {
    const req = Object.assign(new EventEmitter(), { method: 'GET', url: '/cluster/stream', headers: {} });
    const res = new FakeResponse();
    controller.stream(req, res as unknown as ServerResponse);
    return res;
  };

  beforeEach(() => {
    jest.useFakeTimers();
    status = fakeStatus();
    events = new Subject();
    const cluster = { status: () => status, events$: events.asObservable() } as unknown as RaftClusterService;
    controller = new ClusterStreamController(cluster);
  });

  afterEach(() => {
    controller.beforeApplicationShutdown();
    jest.useRealTimers();
  });

  it('samples on a timer and on cluster events, ignores heartbeat-sized lastContactMs jitter, and pings', () => {
    const res = connect();
    expect(res.statusCode).toBe(200);
    expect(res.events().filter((e) => e.event === 'status')).toHaveLength(1);

    status = fakeStatus({ members: [status.members[0], { ...status.members[1], lastContactMs: 40 }] });
    jest.advanceTimersByTime(STREAM_POLL_MS * 3);
    expect(res.events().filter((e) => e.event === 'status')).toHaveLength(1);

    status = fakeStatus({ members: [status.members[0], { ...status.members[1], lastContactMs: 2500, reachable: false }] });
    jest.advanceTimersByTime(STREAM_POLL_MS);
    expect(res.events().filter((e) => e.event === 'status')).toHaveLength(2);

    // An event samples at once (next turn), without waiting for the poll.
    status = fakeStatus({ role: 'follower', isLeader: false, leaderId: null, leaderUrl: null, term: 2 });
    events.next({ type: 'role-changed', role: 'follower', previousRole: 'leader', term: 2 });
    events.next({ type: 'leader-changed', leaderId: null, previousLeaderId: 'a', leaderUrl: null, term: 2 });
    jest.advanceTimersByTime(1); // setImmediate runs with the fake timers
    const statuses = res.events().filter((e) => e.event === 'status');
    expect(statuses).toHaveLength(3);
    expect(JSON.parse(statuses[2].data!)).toMatchObject({ role: 'follower', term: 2, leaderId: null });

    jest.advanceTimersByTime(STREAM_PING_MS);
    expect(res.events().filter((e) => e.comment === 'ping')).toHaveLength(1);
  });

  it('drops a client that does not read, and stops its timers when the last client leaves', () => {
    const slow = connect();
    const fine = connect();
    expect(controller.clientCount).toBe(2);
    expect(jest.getTimerCount()).toBe(2);
    slow.writableLength = STREAM_MAX_BUFFERED_BYTES + 1;
    status = fakeStatus({ commitIndex: 2 });
    jest.advanceTimersByTime(STREAM_POLL_MS);
    expect(slow.destroyed).toBe(true);
    expect(controller.clientCount).toBe(1);
    expect(fine.events().filter((e) => e.event === 'status')).toHaveLength(2);
    fine.emit('close');
    expect(controller.clientCount).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not fail while the node cannot report a status, and ends streams at shutdown', () => {
    const cluster = {
      status: () => {
        throw new Error('not started');
      },
      events$: events.asObservable(),
    } as unknown as RaftClusterService;
    controller = new ClusterStreamController(cluster);
    const res = connect();
    jest.advanceTimersByTime(STREAM_POLL_MS * 2);
    expect(res.events().filter((e) => e.event === 'status')).toHaveLength(0);
    events.complete();
    expect(res.ended).toBe(true);
    expect(controller.clientCount).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    const late = connect();
    expect(late.statusCode).toBe(503);
    expect(JSON.parse(late.written.join(''))).toMatchObject({ error: 'shutting_down' });
  });
});
