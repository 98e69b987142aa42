import { AppendRequest, EntryType, Message, SnapshotChunk } from '../../src/core/types';
import { Rng } from '../../src/testing/rng';
import { CODEC_MAGIC, CODEC_VERSION, CodecError, decodeMessages, encodeMessages, estimateEncodedSize, MAX_STRING_BYTES } from '../../src/transport/codec';
import { genBatch, genMessage, invalidReason, MESSAGE_TYPES, plain } from './gen';

function roundTrip(msgs: Message[]): Message[] {
  return decodeMessages(encodeMessages(msgs));
}

/** Decoding must either throw CodecError or give fully valid messages: never another exception. */
function decodeOrCodecError(buf: Buffer): 'error' | 'ok' {
  let out: Message[];
  try {
    out = decodeMessages(buf);
  } catch (e) {
    if (!(e instanceof CodecError)) throw new Error(`expected CodecError, got ${String(e)}`);
    expect(e.message.length).toBeGreaterThan(0);
    return 'error';
  }
  expect(Array.isArray(out)).toBe(true);
  for (const m of out) expect(invalidReason(m)).toBeNull();
  return 'ok';
}

describe('codec round trip', () => {
  it('round-trips every message type', () => {
    const r = new Rng(1);
    for (const type of MESSAGE_TYPES) {
      for (let i = 0; i < 50; i++) {
        const m = genMessage(r, type);
        expect(invalidReason(m)).toBeNull();
        const [back, ...rest] = roundTrip([m]);
        expect(rest).toEqual([]);
        expect(plain(back)).toEqual(plain(m));
        expect(invalidReason(back)).toBeNull();
      }
    }
  });

  it('round-trips random batches (seeded property test)', () => {
    const r = new Rng(42);
    for (let i = 0; i < 500; i++) {
      const batch = genBatch(r);
      const buf = encodeMessages(batch);
      expect(buf[0]).toBe(CODEC_MAGIC);
      expect(buf[1]).toBe(CODEC_VERSION);
      const bound = batch.reduce((n, m) => n + estimateEncodedSize(m), 0) + 32;
      expect(buf.length).toBeLessThanOrEqual(bound);
      const back = decodeMessages(buf);
      expect(back.map(plain)).toEqual(batch.map(plain));
    }
  });

  it('round-trips an empty batch', () => {
    expect(roundTrip([])).toEqual([]);
  });

  it('decodes from a Buffer view at a non-zero offset and from a plain Uint8Array', () => {
    const batch = genBatch(new Rng(7), 20);
    const enc = encodeMessages(batch);
    const big = Buffer.alloc(enc.length + 20, 0xee);
    enc.copy(big, 11);
    expect(decodeMessages(big.subarray(11, 11 + enc.length)).map(plain)).toEqual(batch.map(plain));
    const u8 = new Uint8Array(enc.length);
    u8.set(enc);
    expect(decodeMessages(u8).map(plain)).toEqual(batch.map(plain));
  });

  it('gives entry data as zero-copy views of the input', () => {
    const m: AppendRequest = {
      type: 'append',
      from: 'a',
      to: 'b',
      term: 3,
      prevIndex: 9,
      prevTerm: 2,
      commit: 9,
      entries: [
        { index: 10, term: 3, type: EntryType.Normal, data: Buffer.from('hello') },
        { index: 11, term: 3, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 12, term: 3, type: EntryType.ConfChange, data: new TextEncoder().encode('{"x":1}') },
      ],
    };
    const buf = encodeMessages([m]);
    const [back] = decodeMessages(buf) as AppendRequest[];
    expect(back.entries[0].data).toBeInstanceOf(Uint8Array);
    expect(back.entries[0].data.buffer).toBe(buf.buffer);
    expect(Buffer.from(back.entries[0].data).toString()).toBe('hello');
    expect(back.entries[1].data.length).toBe(0);
    expect(back.entries.map((e) => e.type)).toEqual([EntryType.Normal, EntryType.Noop, EntryType.ConfChange]);
  });

  it('carries snapshot chunk data as raw bytes, and a "__proto__" address key as plain data', () => {
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const addresses: Record<string, string> = { n1: 'http://a:1' };
    Object.defineProperty(addresses, '__proto__', { value: 'http://evil', enumerable: true, writable: true, configurable: true });
    const m: SnapshotChunk = {
      type: 'snapshot',
      from: 'n1',
      to: 'n2',
      term: 5,
      meta: { index: 100, term: 4, size: 1_000_000, conf: { voters: ['n1', 'n2'], learners: ['n3'], addresses } },
      offset: 200_000,
      data,
      length: data.length,
      done: false,
    };
    const buf = encodeMessages([m]);
    expect(buf.length).toBeLessThan(data.length + 100);
    const [back] = decodeMessages(buf) as SnapshotChunk[];
    expect(Buffer.from(back.data).equals(data)).toBe(true);
    expect(Object.getPrototypeOf(back.meta.conf.addresses)).toBe(Object.prototype);
    expect(Object.keys(back.meta.conf.addresses).sort()).toEqual(['__proto__', 'n1']);
    expect(plain(back)).toEqual(plain(m));
  });

  it('is compact: entries in binary, ids once per batch', () => {
    const entries = Array.from({ length: 100 }, (_, i) => ({ index: 1000 + i, term: 7, type: EntryType.Normal, data: Buffer.alloc(200, 1) }));
    const buf = encodeMessages([{ type: 'append', from: 'node1', to: 'node2', term: 7, prevIndex: 999, prevTerm: 7, commit: 999, entries }]);
    // 200 payload bytes + index (2) + term (1) + type (1) + length (2) per entry, plus a small header.
    expect(buf.length).toBeLessThanOrEqual(100 * 206 + 40);
    const hb = Array.from({ length: 100 }, (_, i): Message => ({ type: 'heartbeat', from: 'node1', to: 'node2', term: 7, commit: 5000 + i, readRound: i }));
    expect(encodeMessages(hb).length).toBeLessThan(100 * 16);
  });

  it('refuses to encode malformed messages with CodecError', () => {
    const bad: unknown[] = [
      { type: 'heartbeat', from: 'a', to: 'b', term: -1, commit: 0, readRound: 0 },
      { type: 'heartbeat', from: 'a', to: 'b', term: 1.5, commit: 0, readRound: 0 },
      { type: 'heartbeat', from: 'a', to: 'b', term: 2 ** 53, commit: 0, readRound: 0 },
      { type: 'heartbeat', from: 1, to: 'b', term: 1, commit: 0, readRound: 0 },
      { type: 'vote', from: 'a', to: 'b', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: 'yes' },
      { type: 'nope', from: 'a', to: 'b', term: 1 },
      { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 9, data: new Uint8Array() }] },
      { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 0, data: 'str' }] },
      { type: 'read-index', from: 'a', to: 'b', term: 1, requestId: NaN },
      { type: 'heartbeat', from: 'x'.repeat(MAX_STRING_BYTES + 1), to: 'b', term: 1, commit: 0, readRound: 0 },
      null,
    ];
    for (const m of bad) expect(() => encodeMessages([m as Message])).toThrow(CodecError);
  });
});

describe('codec strict decoding', () => {
  const sample = (): Buffer => encodeMessages(genBatch(new Rng(99), 8).concat(genMessage(new Rng(3), 'append'), genMessage(new Rng(4), 'snapshot')));

  it('rejects empty input, bad magic, unknown version, trailing bytes', () => {
    const good = sample();
    expect(() => decodeMessages(Buffer.alloc(0))).toThrow(CodecError);
    expect(() => decodeMessages(Buffer.from('{"type":"vote"}'))).toThrow(/bad magic/);
    const v2 = Buffer.from(good);
    v2[1] = 2;
    expect(() => decodeMessages(v2)).toThrow(/unsupported codec version 2/);
    expect(() => decodeMessages(Buffer.concat([good, Buffer.from([0])]))).toThrow(/trailing/);
    expect(() => decodeMessages('hello' as unknown as Buffer)).toThrow(CodecError);
  });

  it('rejects every truncation', () => {
    const good = sample();
    for (let n = 0; n < good.length; n++) {
      expect(() => decodeMessages(good.subarray(0, n))).toThrow(CodecError);
    }
  });

  it('rejects counts and lengths that claim more than the input has (no allocation bombs)', () => {
    // magic, version, 0 strings, 2^50 messages
    const huge = Buffer.from([CODEC_MAGIC, CODEC_VERSION, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => decodeMessages(huge)).toThrow(/more than the bytes left/);
    // a string of 1,000,000 bytes
    expect(() => decodeMessages(Buffer.from([CODEC_MAGIC, CODEC_VERSION, 1, 0xc0, 0x84, 0x3d]))).toThrow(CodecError);
    // a frame claiming 4 GiB
    const s = encodeMessages([{ type: 'timeout-now', from: 'a', to: 'b', term: 1 }]);
    const lenAt = s.length - 4 - 3; // type, u32 length, then from/to/term (1 byte each)
    s.writeUInt32LE(0xffffffff, lenAt);
    expect(() => decodeMessages(s)).toThrow(/claims/);
  });

  it('rejects non-canonical and out-of-range varints, bad booleans, bad string indexes, invalid UTF-8', () => {
    const base = (): Buffer => encodeMessages([{ type: 'vote', from: 'a', to: 'b', term: 1, lastLogIndex: 2, lastLogTerm: 3, transfer: true }]);
    // layout: R 1 | 2 | 1 'a' | 1 'b' | 1 | type len(4) | from to term lli llt transfer
    const good = base();
    expect(decodeMessages(good)).toHaveLength(1);
    const bodyAt = good.length - 6;
    const withBody = (body: number[]): Buffer => {
      const b = Buffer.concat([good.subarray(0, bodyAt - 4), Buffer.alloc(4), Buffer.from(body)]);
      b.writeUInt32LE(body.length, bodyAt - 4);
      return b;
    };
    expect(decodeMessages(withBody([0, 1, 1, 2, 3, 1]))).toHaveLength(1);
    expect(() => decodeMessages(withBody([0, 1, 1, 2, 3, 2]))).toThrow(/bad boolean/);
    expect(() => decodeMessages(withBody([0, 5, 1, 2, 3, 1]))).toThrow(/refers to string 5/);
    expect(() => decodeMessages(withBody([0, 1, 0x81, 0x00, 2, 3, 1]))).toThrow(/non-canonical/);
    expect(() => decodeMessages(withBody([0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 2, 3, 1]))).toThrow(/safe integer/);
    expect(() => decodeMessages(withBody([0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2, 3, 1]))).toThrow(/too long/);
    expect(() => decodeMessages(withBody([0, 1, 1, 2, 3, 1, 0]))).toThrow(/trailing bytes/);
    expect(() => decodeMessages(withBody([0, 1, 1, 2, 3]))).toThrow(/truncated/);
    const badUtf8 = Buffer.from(good);
    badUtf8[4] = 0xff; // the string 'a'
    expect(() => decodeMessages(badUtf8)).toThrow(/UTF-8/);
    const badType = Buffer.from(good);
    badType[bodyAt - 5] = 77;
    expect(() => decodeMessages(badType)).toThrow(/unknown message type/);
  });

  it('fuzz: random bit flips give CodecError or valid messages, never another exception', () => {
    const r = new Rng(2024);
    let errors = 0;
    let oks = 0;
    for (let round = 0; round < 300; round++) {
      const good = encodeMessages(genBatch(r, 6));
      for (let k = 0; k < 10; k++) {
        const b = Buffer.from(good);
        const flips = r.int(1, 4);
        for (let f = 0; f < flips; f++) {
          const i = r.int(0, b.length - 1);
          b[i] ^= 1 << r.int(0, 7);
        }
        if (decodeOrCodecError(b) === 'error') errors++;
        else oks++;
      }
    }
    expect(errors).toBeGreaterThan(0);
    expect(oks).toBeGreaterThan(0); // flips inside payload bytes still decode
  });

  it('fuzz: random truncations, splices and garbage give CodecError or valid messages', () => {
    const r = new Rng(77);
    for (let round = 0; round < 300; round++) {
      const a = encodeMessages(genBatch(r, 5));
      const b = encodeMessages(genBatch(r, 5));
      decodeOrCodecError(a.subarray(0, r.int(0, a.length)));
      decodeOrCodecError(Buffer.concat([a.subarray(0, r.int(0, a.length)), b.subarray(r.int(0, b.length))]));
      const garbage = Buffer.alloc(r.int(0, 64));
      for (let i = 0; i < garbage.length; i++) garbage[i] = r.int(0, 255);
      if (garbage.length >= 2 && r.chance(0.7)) {
        garbage[0] = CODEC_MAGIC;
        garbage[1] = CODEC_VERSION;
      }
      decodeOrCodecError(garbage);
    }
  });
});
