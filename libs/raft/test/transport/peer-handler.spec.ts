import { encodeMessages } from '../../src/transport/codec';
import { signPeerRequest } from '../../src/transport/auth';
import { PEER_STREAM_PATH } from '../../src/transport/peer-endpoints';
import { cleanups, commits, frame, hb, rawRequest, rawStream, SECRET, signed, sleep, startPeer, TestPeerOptions, waitFor } from './loopback';

async function peer(opts: TestPeerOptions = {}): ReturnType<typeof startPeer> {
  const b = await startPeer(opts);
  cleanups.push(() => b.close());
  return b;
}

describe('POST /raft/messages', () => {
  it('401 without a valid signature, and nothing is delivered', async () => {
    const b = await peer();
    const body = encodeMessages([hb('a', 'b', 1)]);
    const noAuth = await rawRequest(b.port, { body, headers: { 'content-type': 'application/octet-stream' } });
    expect(noAuth.status).toBe(401);
    expect(JSON.parse(noAuth.body)).toEqual({ error: 'unauthorized', message: expect.any(String) });
    const wrong = await rawRequest(b.port, { body, headers: signed(body, '/raft/messages', 'nope') });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toBe(noAuth.body); // the answer does not tell which check failed
    const tampered = await rawRequest(b.port, { body: Buffer.concat([body, Buffer.from([0])]), headers: { ...signed(body), 'content-length': String(body.length + 1) } });
    expect(tampered.status).toBe(401);
    // a replay of an accepted request
    const h = signed(body);
    expect((await rawRequest(b.port, { body, headers: h })).status).toBe(204);
    expect((await rawRequest(b.port, { body, headers: h })).status).toBe(401);
    expect(b.received).toHaveLength(1);
  });

  it('413 beyond maxBodyBytes, declared or streamed', async () => {
    const b = await peer({ maxBodyBytes: 1000 });
    const big = Buffer.alloc(5000, 1);
    const declared = await rawRequest(b.port, { body: big, headers: signed(big) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ error: 'payload_too_large', message: expect.stringContaining('1000') });
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(500, 2));
    const streamed = await rawRequest(b.port, { chunks, headers: signed(Buffer.concat(chunks)) });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error).toBe('payload_too_large');
    expect(b.received).toEqual([]);
  });

  it('400 on an undecodable (but authenticated) body, or a sender mismatch', async () => {
    const b = await peer();
    const garbage = Buffer.from('definitely not a batch');
    const res = await rawRequest(b.port, { body: garbage, headers: signed(garbage) });
    expect(res.status).toBe(400);
    const j = JSON.parse(res.body);
    expect(j.error).toBe('bad_request');
    expect(j.message).toMatch(/bad magic/);
    const body = encodeMessages([hb('mallory', 'b', 1)]);
    const mismatch = await rawRequest(b.port, { body, headers: { ...signed(body), 'x-raft-from': 'a' } });
    expect(mismatch.status).toBe(400);
    expect(b.received).toEqual([]);
  });

  it('404 for unknown /raft/ paths, 405 for other methods, false outside /raft/', async () => {
    const b = await peer();
    const nf = await rawRequest(b.port, { method: 'GET', path: '/raft/nothing' });
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body).error).toBe('not_found');
    const na = await rawRequest(b.port, { method: 'GET', path: '/raft/messages' });
    expect(na.status).toBe(405);
    expect(na.headers.allow).toBe('POST');
    const other = await rawRequest(b.port, { method: 'GET', path: '/raftx' });
    expect(other.body).toBe('not mine');
  });

  it('drops messages addressed to another node when selfId is set', async () => {
    const b = await peer({ selfId: 'b' });
    const body = encodeMessages([hb('a', 'b', 1), hb('a', 'c', 2)]);
    expect((await rawRequest(b.port, { body, headers: signed(body) })).status).toBe(204);
    expect(b.received.map((m) => m.to)).toEqual(['b']);
  });
});

describe('POST /raft/stream', () => {
  it('accepts with 102, delivers frames split or coalesced, answers 204 when the stream ends', async () => {
    const b = await peer();
    const s = rawStream(b.port);
    const fs = Array.from({ length: 20 }, (_, i) => frame(s.nonce, i, [hb('a', 'b', i)]));
    s.req.write(Buffer.concat(fs.slice(0, 10))); // coalesced
    const rest = Buffer.concat(fs.slice(10));
    for (let i = 0; i < rest.length; i += 5) {
      s.req.write(rest.subarray(i, i + 5)); // split anywhere
      if (i % 50 === 0) await sleep(1);
    }
    await waitFor(() => b.received.length === 20, '20 messages');
    s.req.end();
    expect(await s.result).toEqual({ status: 204, body: '' });
    expect(s.info).toEqual([102]);
    expect(commits(b.received)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it.each([
    ['tampered', (f: Buffer) => ((f[8] ^= 1), f)],
    ['wrong MAC', (f: Buffer) => ((f[f.length - 3] ^= 0x80), f)],
  ])('%s frame: the stream is closed with 400 and nothing from that frame on is delivered', async (_what, spoil) => {
    const b = await peer();
    const s = rawStream(b.port);
    s.req.write(frame(s.nonce, 0, [hb('a', 'b', 0)]));
    s.req.write(Buffer.concat([spoil(frame(s.nonce, 1, [hb('a', 'b', 1)])), frame(s.nonce, 2, [hb('a', 'b', 2)])]));
    const r = await s.result;
    expect(r).toMatchObject({ status: 400 });
    expect(commits(b.received)).toEqual([0]);
    expect(b.logs.filter((l) => l.includes('stream') && l.includes('closed'))).toHaveLength(1);
    expect(b.logs.join('\n')).not.toContain(SECRET);
  });

  it.each([
    ['replayed', [0, 0, 1]],
    ['reordered', [1, 0]],
    ['skipped', [0, 2]],
  ])('%s frame sequence: closed, nothing from that frame on', async (_what, seqs) => {
    const b = await peer();
    const s = rawStream(b.port);
    const cache = [0, 1, 2].map((i) => frame(s.nonce, i, [hb('a', 'b', i)]));
    for (const q of seqs) s.req.write(cache[q]);
    expect(await s.result).toMatchObject({ status: 400 });
    const firstBad = seqs.findIndex((q, i) => q !== i);
    expect(commits(b.received)).toEqual(seqs.slice(0, firstBad));
  });

  it('bad headers: 401 at once, nothing delivered (unsigned, wrong secret, replayed headers)', async () => {
    const b = await peer();
    const unsigned = rawStream(b.port, { 'x-raft-from': 'a' });
    unsigned.req.write(frame('', 0, [hb('a', 'b', 0)], null));
    expect(await unsigned.result).toMatchObject({ status: 401 });
    const wrong = rawStream(b.port, { 'x-raft-from': 'a', ...signPeerRequest('not-the-secret', 'POST', PEER_STREAM_PATH, Buffer.alloc(0), Date.now()) });
    expect(await wrong.result).toMatchObject({ status: 401 });
    const headers = { 'x-raft-from': 'a', ...signPeerRequest(SECRET, 'POST', PEER_STREAM_PATH, Buffer.alloc(0), Date.now(), 'replayed-nonce-0123456') };
    const first = rawStream(b.port, headers);
    first.req.write(frame('replayed-nonce-0123456', 0, [hb('a', 'b', 7)]));
    await waitFor(() => b.received.length === 1, 'first stream delivery');
    const replay = rawStream(b.port, headers);
    replay.req.write(frame('replayed-nonce-0123456', 0, [hb('a', 'b', 8)]));
    expect(await replay.result).toMatchObject({ status: 401 });
    first.req.end();
    await first.result;
    expect(commits(b.received)).toEqual([7]);
  });
});
