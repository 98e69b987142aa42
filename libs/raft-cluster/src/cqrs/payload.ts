/**
 * What travels in the log for a command, an event or a handler's result: JSON. A value JSON would
 * change on the way (a Map becomes {}, a Date a string, a class instance loses its class, NaN becomes
 * null) would reach the other nodes as something else than the leader applied, so it is refused before
 * the log, with the path of the first such field. A `codec` option may carry richer values instead.
 */

/** Turns values into JSON values and back, the same way on every node (for example superjson's serialize/deserialize). */
export interface RaftPayloadCodec {
  encode(value: unknown): unknown;
  decode(value: unknown): unknown;
}

export interface Unfaithful {
  /** Where, as `field.sub[2]` (empty for the value itself). */
  path: string;
  problem: string;
}

function describe(value: object): string | null {
  if (value instanceof Map) return 'a Map (JSON writes {})';
  if (value instanceof Set) return 'a Set (JSON writes {})';
  if (value instanceof Date) return 'a Date (JSON writes a string, and a string arrives)';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 'binary data (JSON writes an object of numbers or {})';
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== null && proto !== Object.prototype && !Array.isArray(value)) {
    const name = (proto.constructor as { name?: string } | undefined)?.name || 'a class';
    return `an instance of ${name} (JSON keeps its fields, not its class or methods)`;
  }
  return null;
}

const child = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`);

/** The first place where JSON would not carry `value` faithfully, or null. Object properties that are undefined are fine (JSON leaves them out and they read back as undefined). */
export function findUnfaithful(value: unknown, path = '', ancestors: object[] = []): Unfaithful | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : { path, problem: `${String(value)} (JSON writes null)` };
    case 'bigint':
      return { path, problem: 'a BigInt (JSON has none; send a string or a number)' };
    case 'function':
      return { path, problem: 'a function' };
    case 'symbol':
      return { path, problem: 'a symbol' };
    case 'undefined':
      return { path, problem: 'undefined (JSON writes null, or nothing)' };
  }
  if (value === null) return null;
  const obj = value as object;
  if (ancestors.includes(obj)) return { path, problem: 'a cycle (the value contains itself)' };
  const kind = describe(obj);
  if (kind !== null) return { path, problem: kind };
  ancestors.push(obj);
  try {
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) return { path: child(path, i), problem: 'a hole in an array (JSON writes null)' };
        const bad = findUnfaithful(obj[i], child(path, i), ancestors);
        if (bad !== null) return bad;
      }
      return null;
    }
    for (const [key, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const bad = findUnfaithful(v, child(path, key), ancestors);
      if (bad !== null) return bad;
    }
    return null;
  } finally {
    ancestors.pop();
  }
}

/**
 * `value` as the log carries it, as JSON text: through the codec when there is one, then serialised once
 * (`null` for undefined). Or, when JSON would change it, where and how, for the caller's error.
 */
export function jsonTextForLog(codec: RaftPayloadCodec | null | undefined, value: unknown): { text: string; bad: null } | { text: null; bad: Unfaithful & { said: string } } {
  if (value === undefined) return { text: 'null', bad: null };
  const encoded = codec ? codec.encode(value) : value;
  const bad = findUnfaithful(encoded);
  if (bad !== null) {
    const where = codec ? `the codec's output at "${bad.path}"` : bad.path === '' ? 'the value' : `field "${bad.path}"`;
    return { text: null, bad: { ...bad, said: `${where} is ${bad.problem}` } };
  }
  return { text: JSON.stringify(encoded), bad: null };
}

/** {@link jsonTextForLog}, read back: a deep copy of plain data that no later change of `value` reaches. */
export function encodeForLog(codec: RaftPayloadCodec | null | undefined, value: unknown): { json: unknown; text: string; bad: null } | { json: null; text: null; bad: Unfaithful & { said: string } } {
  const out = jsonTextForLog(codec, value);
  if (out.bad !== null) return { json: null, ...out };
  return { json: JSON.parse(out.text) as unknown, text: out.text, bad: null };
}
