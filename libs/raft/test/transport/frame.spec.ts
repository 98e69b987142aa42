import { decodeMessages } from '../../src/transport/codec';
import { FrameError, FrameParser } from '../../src/transport/frame';
import { commits, frame, hb, SECRET } from './loopback';

const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA';

describe('FrameParser', () => {
  const frames = [frame(NONCE, 0, [hb('a', 'b', 0)]), frame(NONCE, 1, [hb('a', 'b', 1), hb('a', 'b', 2)]), frame(NONCE, 2, [])];
  const all = Buffer.concat(frames);

  it('handles frames split at every byte boundary, and several frames per chunk', () => {
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j += 7) {
        const p = new FrameParser(SECRET, NONCE, 1 << 20);
        const out = [...p.push(all.subarray(0, i)), ...p.push(all.subarray(i, j)), ...p.push(all.subarray(j))];
        expect(out.map((b) => commits(decodeMessages(b)))).toEqual([[0], [1, 2], []]);
        expect(p.pending).toBe(0);
      }
    }
    const p = new FrameParser(SECRET, NONCE, 1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i++) got.push(...p.push(all.subarray(i, i + 1))); // byte by byte
    expect(got).toHaveLength(3);
    expect(new FrameParser(SECRET, NONCE, 1 << 20).push(all)).toHaveLength(3); // coalesced
  });

  it('rejects a tampered payload, a wrong MAC, a replayed or reordered frame, another nonce', () => {
    const tampered = Buffer.from(frames[1]);
    tampered[6] ^= 1;
    const wrongMac = Buffer.from(frames[1]);
    wrongMac[wrongMac.length - 1] ^= 1;
    for (const [bad, _what] of [
      [tampered, 'tampered'],
      [wrongMac, 'wrong MAC'],
      [frames[0], 'replayed'],
      [frames[2], 'reordered'],
      [frame('BBBBBBBBBBBBBBBBBBBBBB', 1, [hb('a', 'b', 1)]), 'other stream'],
      [frame(NONCE, 1, [hb('a', 'b', 1)], 'other-secret'), 'other secret'],
    ] as const) {
      const p = new FrameParser(SECRET, NONCE, 1 << 20);
      expect(p.push(frames[0])).toHaveLength(1);
      expect(() => p.push(Buffer.concat([bad, frames[1]]))).toThrow(FrameError);
      expect(() => p.push(frames[1])).toThrow(/already rejected/); // nothing after the bad frame
      expect(p.frames).toBe(1);
    }
  });

  it('rejects a frame over the limit as soon as its header is in (413)', () => {
    const p = new FrameParser(SECRET, NONCE, 10);
    const big = frame(NONCE, 0, [hb('a', 'b', 0)]);
    expect(() => p.push(big.subarray(0, 4))).toThrow(expect.objectContaining({ status: 413 }));
  });

  it('insecure mode: zero MAC, not checked', () => {
    const f = frame(NONCE, 0, [hb('a', 'b', 0)], null);
    expect(f.subarray(f.length - 16).equals(Buffer.alloc(16))).toBe(true);
    expect(new FrameParser(null, '', 1 << 20).push(f)).toHaveLength(1);
  });
});
