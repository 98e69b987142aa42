import { encodePayload } from '../src/cqrs/command-submitter';
import { findUnfaithful } from '../src/cqrs/payload';

describe('what the log carries', () => {
  it('finds the first field JSON would change, with its path', () => {
    expect(findUnfaithful({ a: 1, b: 'x', c: [true, null, { d: 2.5 }], e: undefined })).toBeNull();
    expect(findUnfaithful({ list: [{ ok: 1 }, { when: new Date(0) }] })).toEqual({ path: 'list[1].when', problem: expect.stringContaining('a Date') });
    expect(findUnfaithful(Object.create(null) as object)).toBeNull();
    // eslint-disable-next-line no-sparse-arrays
    expect(findUnfaithful({ holes: [1, , 3] })).toEqual({ path: 'holes[1]', problem: expect.stringContaining('hole') });
    expect(findUnfaithful({ bytes: new Uint8Array(2) })?.problem).toContain('binary');
    const shared = { v: 1 };
    expect(findUnfaithful({ a: shared, b: shared })).toBeNull();
  });

  it("checks a codec's output too, and names the codec", () => {
    const identity = { encode: (v: unknown): unknown => v, decode: (v: unknown): unknown => v };
    expect(() => encodePayload(identity, 'command', 'x.y', { when: new Map() })).toThrow(/command "x\.y": the codec's output at "when" is a Map/);
    expect(encodePayload(identity, 'event', 'x.y', { n: 1 })).toBe('{"n":1}');
    expect(() => encodePayload(null, 'event', 'x.ev', { n: 1n })).toThrow(/event "x\.ev": field "n" is a BigInt/);
  });
});
