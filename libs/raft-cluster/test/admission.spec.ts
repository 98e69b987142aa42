import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_ROUTES } from '../src/controllers/routes';
import { AdmissionControl, AdmissionOptions, alwaysServedPattern } from '../src/internal/admission';

const admission = (o: Omit<AdmissionOptions, 'alwaysServed'>): AdmissionControl => new AdmissionControl({ alwaysServed: alwaysServedPattern('', DEFAULT_ROUTES), ...o });

/** A response that records what was sent and can be closed like a real one. */
function fakeResponse(): ServerResponse & { sent: { status: number; headers: Record<string, unknown>; body: string } | null } {
  const res = new EventEmitter() as unknown as ServerResponse & { sent: { status: number; headers: Record<string, unknown>; body: string } | null };
  res.sent = null;
  let status = 0;
  let headers: Record<string, unknown> = {};
  res.writeHead = ((s: number, h: Record<string, unknown>) => {
    status = s;
    headers = h;
    return res;
  }) as never;
  res.end = ((body: string) => {
    res.sent = { status, headers, body };
    return res;
  }) as never;
  return res;
}

const request = (url: string): IncomingMessage => ({ url }) as IncomingMessage;

describe('AdmissionControl', () => {
  it('refuses requests beyond maxInFlight with 503 + Retry-After, and admits again once one finishes', () => {
    let shed = 0;
    const ac = admission({ maxInFlight: 40, maxQueueDelayMs: 60_000, onShed: () => shed++ });
    const open = Array.from({ length: 40 }, () => fakeResponse());
    for (const res of open) expect(ac.shed(request('/orders'), res)).toBe(false);
    const refused = fakeResponse();
    expect(ac.shed(request('/orders'), refused)).toBe(true);
    expect(refused.sent).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect(JSON.parse(refused.sent!.body)).toMatchObject({ error: 'overloaded' });
    expect(shed).toBe(1);
    open[0].emit('close');
    expect(ac.size).toBe(39);
    expect(ac.shed(request('/orders'), fakeResponse())).toBe(false);
  });

  it('refuses new requests once the oldest in progress has waited longer than maxQueueDelayMs', () => {
    let now = 1_000;
    const ac = admission({ maxInFlight: 10_000, maxQueueDelayMs: 500, now: () => now });
    const first = fakeResponse();
    ac.shed(request('/products/a'), first);
    for (let i = 0; i < 40; i++) ac.shed(request('/products/a'), fakeResponse());
    now += 501;
    expect(ac.oldestWaitMs()).toBe(501);
    expect(ac.shed(request('/products/a'), fakeResponse())).toBe(true);
    // The oldest finishing resets the clock to the next oldest.
    first.emit('close');
    expect(ac.shed(request('/products/a'), fakeResponse())).toBe(true); // the rest are as old
  });

  it('admits a few requests whatever their age, and always serves health, status, metrics and peer paths', () => {
    let now = 0;
    const ac = admission({ maxInFlight: 1, maxQueueDelayMs: 1, now: () => now });
    ac.shed(request('/orders'), fakeResponse());
    now = 10_000;
    for (const path of ['/health/live', '/health/ready', '/cluster/status', '/cluster/stream', '/metrics', '/raft/stream', '/raft-groups/g/raft/stream']) {
      expect(ac.shed(request(path), fakeResponse())).toBe(false);
    }
    expect(ac.shed(request('/orders'), fakeResponse())).toBe(true);
    const small = admission({ maxInFlight: 1000, maxQueueDelayMs: 1, now: () => now });
    now = 0;
    for (let i = 0; i < 10; i++) small.shed(request('/x'), fakeResponse());
    now = 10_000;
    expect(small.shed(request('/x'), fakeResponse())).toBe(false);
  });

  it('always serves the routes where the routes option and the global prefix put them, and nothing else', () => {
    const moved = alwaysServedPattern('/api', { cluster: 'ops/raft', health: 'healthz', metrics: null });
    for (const path of ['/api/healthz/ready', '/api/ops/raft/status', '/api/ops/raft/stream?x=1', '/raft/stream', '/raft-groups/g/raft/stream']) {
      expect([path, moved.test(path)]).toEqual([path, true]);
    }
    for (const path of ['/health/ready', '/cluster/status', '/api/cluster/status', '/api/metrics', '/metrics', '/api/ops/raft/members', '/api/ops/raft/statusx', '/api/healthz']) {
      expect([path, moved.test(path)]).toEqual([path, false]);
    }
    const dots = alwaysServedPattern('', { cluster: 'a.b', health: 'health', metrics: 'metrics' });
    expect([dots.test('/a.b/status'), dots.test('/aXb/status'), dots.test('/metrics?x'), dots.test('/metricsx')]).toEqual([true, false, true, false]);
  });

  it('does not count event streams once their headers are out', () => {
    let now = 0;
    const ac = admission({ maxInFlight: 40, maxQueueDelayMs: 1000, now: () => now });
    for (let i = 0; i < 40; i++) {
      const res = fakeResponse();
      expect(ac.shed(request('/api/v1/stream'), res)).toBe(false);
      Object.assign(res, { headersSent: true, getHeader: (h: string) => (h === 'content-type' ? 'text/event-stream; charset=utf-8' : undefined) });
    }
    now += 60_000; // streams open for a minute are neither "in flight" nor "the oldest waiting"
    for (let i = 0; i < 30; i++) expect(ac.shed(request('/orders'), fakeResponse())).toBe(false);
    // At most the streams opened since the last look (every 100 ms) still count.
    expect(ac.size).toBeLessThan(40);
  });
});
