import {
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  ReplayCache,
  signPeerRequest,
  verifyPeerRequest,
  VerifyResult,
} from '../../src/transport/auth';

const SECRET = 'correct horse battery staple';
const PATH = '/raft/messages';
const NOW = 1_700_000_000_000;
const body = Buffer.from('some body bytes');

function verify(headers: Record<string, string | string[] | undefined>, over: Partial<{ secret: string | null; method: string; path: string; body: Buffer; now: number; cache: ReplayCache; windowMs: number }> = {}): VerifyResult {
  return verifyPeerRequest(
    over.secret === undefined ? SECRET : over.secret,
    over.method ?? 'POST',
    over.path ?? PATH,
    headers,
    over.body ?? body,
    over.now ?? NOW,
    { replayCache: over.cache ?? new ReplayCache(), windowMs: over.windowMs },
  );
}

const reason = (r: VerifyResult): string => (r.ok ? 'ok' : r.reason);

describe('peer request authentication', () => {
  it('accepts a correctly signed request', () => {
    const h = signPeerRequest(SECRET, 'POST', PATH, body, NOW);
    expect(Object.keys(h).sort()).toEqual([HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP].sort());
    expect(h[HEADER_TIMESTAMP]).toBe(String(NOW));
    expect(h[HEADER_SIGNATURE]).toMatch(/^[0-9a-f]{64}$/);
    expect(verify(h)).toEqual({ ok: true });
    // the method is case-insensitive
    expect(verify(signPeerRequest(SECRET, 'post', PATH, body, NOW))).toEqual({ ok: true });
  });

  it('rejects the wrong secret', () => {
    expect(reason(verify(signPeerRequest('another secret', 'POST', PATH, body, NOW)))).toBe('signature mismatch');
  });

  it('rejects a tampered body, path or method', () => {
    const h = signPeerRequest(SECRET, 'POST', PATH, body, NOW);
    expect(reason(verify(h, { body: Buffer.from('some body bytez') }))).toBe('signature mismatch');
    expect(reason(verify(h, { body: Buffer.alloc(0) }))).toBe('signature mismatch');
    expect(reason(verify(h, { path: '/raft/messages?x=1' }))).toBe('signature mismatch');
    expect(reason(verify(h, { method: 'PUT' }))).toBe('signature mismatch');
    expect(reason(verify({ ...h, [HEADER_NONCE]: 'AAAAAAAAAAAAAAAAAAAAAA' }))).toBe('signature mismatch');
    expect(reason(verify({ ...h, [HEADER_TIMESTAMP]: String(NOW + 1) }))).toBe('signature mismatch');
  });

  it('rejects timestamps outside the window, in the past or the future', () => {
    const old = signPeerRequest(SECRET, 'POST', PATH, body, NOW - 30_001);
    expect(reason(verify(old))).toMatch(/in the past/);
    const future = signPeerRequest(SECRET, 'POST', PATH, body, NOW + 30_001);
    expect(reason(verify(future))).toMatch(/in the future/);
    // the window edges are accepted
    expect(verify(signPeerRequest(SECRET, 'POST', PATH, body, NOW - 30_000))).toEqual({ ok: true });
    expect(verify(signPeerRequest(SECRET, 'POST', PATH, body, NOW + 30_000))).toEqual({ ok: true });
    // a custom window
    expect(reason(verify(signPeerRequest(SECRET, 'POST', PATH, body, NOW - 1001), { windowMs: 1000 }))).toMatch(/in the past/);
  });

  it('rejects a replay of an accepted request within the window', () => {
    const cache = new ReplayCache();
    const h = signPeerRequest(SECRET, 'POST', PATH, body, NOW);
    expect(verify(h, { cache })).toEqual({ ok: true });
    expect(reason(verify(h, { cache, now: NOW + 10 }))).toBe('replayed request');
    // two requests with the same body in the same millisecond differ by their nonce
    expect(verify(signPeerRequest(SECRET, 'POST', PATH, body, NOW), { cache })).toEqual({ ok: true });
    // once outside the window the timestamp check refuses it, and the cache has forgotten it
    expect(reason(verify(h, { cache, now: NOW + 30_001 }))).toMatch(/in the past/);
  });

  it('does not remember rejected requests', () => {
    const cache = new ReplayCache();
    verify(signPeerRequest('wrong', 'POST', PATH, body, NOW), { cache });
    verify(signPeerRequest(SECRET, 'POST', PATH, body, NOW - 60_000), { cache });
    expect(cache.size).toBe(0);
  });

  it('handles malformed, missing, duplicated and wrong-length headers without throwing', () => {
    const h = signPeerRequest(SECRET, 'POST', PATH, body, NOW);
    expect(reason(verify({}))).toBe('missing timestamp');
    expect(reason(verify({ ...h, [HEADER_TIMESTAMP]: 'yesterday' }))).toBe('malformed timestamp');
    expect(reason(verify({ ...h, [HEADER_TIMESTAMP]: [h[HEADER_TIMESTAMP], h[HEADER_TIMESTAMP]] }))).toBe('missing timestamp');
    expect(reason(verify({ ...h, [HEADER_NONCE]: undefined }))).toBe('missing nonce');
    expect(reason(verify({ ...h, [HEADER_NONCE]: 'short' }))).toBe('malformed nonce');
    expect(reason(verify({ ...h, [HEADER_SIGNATURE]: undefined }))).toBe('missing signature');
    // timingSafeEqual throws on a length mismatch: a short, long or non-hex signature is refused before it
    expect(reason(verify({ ...h, [HEADER_SIGNATURE]: h[HEADER_SIGNATURE].slice(0, 62) }))).toBe('malformed signature');
    expect(reason(verify({ ...h, [HEADER_SIGNATURE]: h[HEADER_SIGNATURE] + '00' }))).toBe('malformed signature');
    expect(reason(verify({ ...h, [HEADER_SIGNATURE]: 'zz' + h[HEADER_SIGNATURE].slice(2) }))).toBe('malformed signature');
    expect(reason(verify({ ...h, [HEADER_SIGNATURE]: '' }))).toBe('malformed signature');
  });

  it('never mentions the secret in reasons or errors', () => {
    const reasons: string[] = [];
    const h = signPeerRequest(SECRET, 'POST', PATH, body, NOW);
    reasons.push(reason(verify(signPeerRequest('x', 'POST', PATH, body, NOW))));
    reasons.push(reason(verify({ ...h, [HEADER_TIMESTAMP]: '1' })));
    reasons.push(reason(verify({})));
    for (const r of reasons) expect(r).not.toContain(SECRET);
    expect(() => signPeerRequest('', 'POST', PATH, body, NOW)).toThrow(/non-empty/);
  });

  it('insecure mode (null secret): no headers, no verification', () => {
    expect(signPeerRequest(null, 'POST', PATH, body, NOW)).toEqual({});
    expect(verify({}, { secret: null })).toEqual({ ok: true });
    expect(verify({ [HEADER_SIGNATURE]: 'garbage' }, { secret: null })).toEqual({ ok: true });
  });
});

describe('ReplayCache', () => {
  it('forgets expired entries and stays bounded', () => {
    const c = new ReplayCache(1000);
    for (let i = 0; i < 5000; i++) expect(c.add(`k${i}`, 100 + i, i)).toBe(true);
    expect(c.size).toBeLessThanOrEqual(1000);
    // the newest ones are still there: a replay of them is refused
    expect(c.add('k4999', 10_000, 5000)).toBe(false);
    // everything expires
    c.add('late', 1_000_000, 50_000);
    expect(c.size).toBe(1);
  });

  it('when full, forgets the oldest first', () => {
    const c = new ReplayCache(3);
    for (const k of ['a', 'b', 'c', 'd']) c.add(k, 1000, 0);
    expect(c.has('a')).toBe(false);
    expect(['b', 'c', 'd'].every((k) => c.has(k))).toBe(true);
  });
});
