/** Random Raft messages of every type (seeded) and a structural validity check, for codec tests. */
import { ConfState, Entry, EntryType, Message, SnapshotMeta } from '../../src/core/types';
import { Rng } from '../../src/testing/rng';

export const MESSAGE_TYPES: Message['type'][] = [
  'vote',
  'pre-vote',
  'vote-resp',
  'pre-vote-resp',
  'append',
  'append-resp',
  'heartbeat',
  'heartbeat-resp',
  'snapshot',
  'snapshot-resp',
  'timeout-now',
  'read-index',
  'read-index-resp',
];

const IDS = ['n1', 'n2', 'node-3', 'ünï©ødé-✓', '', 'a'.repeat(200), '__proto__', '𝔘𝔫𝔦'];

export function genUint(r: Rng): number {
  switch (r.int(0, 5)) {
    case 0:
      return 0;
    case 1:
      return r.int(1, 127);
    case 2:
      return r.int(128, 1 << 20);
    case 3:
      return r.int(0, 0xffffffff);
    case 4:
      return Number.MAX_SAFE_INTEGER - r.int(0, 1000);
    default:
      return Math.floor(r.next() * Number.MAX_SAFE_INTEGER);
  }
}

export function genInt(r: Rng): number {
  const v = genUint(r);
  return r.chance(0.4) && v !== 0 ? -v : v;
}

export function genBytes(r: Rng, max: number): Buffer {
  const n = r.chance(0.1) ? 0 : r.int(0, max);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = r.int(0, 255);
  return b;
}

function genConf(r: Rng): ConfState {
  const voters = Array.from({ length: r.int(0, 5) }, () => r.pick(IDS));
  const learners = Array.from({ length: r.int(0, 3) }, () => r.pick(IDS));
  const addresses: Record<string, string> = {};
  for (let i = r.int(0, 4); i > 0; i--) {
    Object.defineProperty(addresses, r.pick(IDS), { value: `http://10.0.0.${r.int(1, 254)}:${r.int(1, 65535)}`, enumerable: true, writable: true, configurable: true });
  }
  return { voters, learners, addresses };
}

export function genEntry(r: Rng, maxData = 64): Entry {
  return { index: genUint(r), term: genUint(r), type: r.int(0, 2) as EntryType, data: genBytes(r, maxData) };
}

export function genMessage(r: Rng, type: Message['type'] = r.pick(MESSAGE_TYPES)): Message {
  const env = { from: r.pick(IDS), to: r.pick(IDS), term: genUint(r) };
  switch (type) {
    case 'vote':
    case 'pre-vote':
      return { type, ...env, lastLogIndex: genUint(r), lastLogTerm: genUint(r), transfer: r.chance(0.5) };
    case 'vote-resp':
    case 'pre-vote-resp':
      return { type, ...env, granted: r.chance(0.5) };
    case 'append':
      return {
        type,
        ...env,
        prevIndex: genUint(r),
        prevTerm: genUint(r),
        entries: Array.from({ length: r.chance(0.2) ? 0 : r.int(1, 20) }, () => genEntry(r)),
        commit: genUint(r),
      };
    case 'append-resp':
      return { type, ...env, index: genUint(r), reject: r.chance(0.5), hintIndex: genUint(r), hintTerm: genUint(r) };
    case 'heartbeat':
      return { type, ...env, commit: genUint(r), readRound: genUint(r) };
    case 'heartbeat-resp':
      return { type, ...env, readRound: genUint(r) };
    case 'snapshot': {
      const meta: SnapshotMeta = { index: genUint(r), term: genUint(r), conf: genConf(r), size: genUint(r) };
      return { type, ...env, meta, offset: genUint(r), data: genBytes(r, 300), length: genUint(r), done: r.chance(0.5) };
    }
    case 'snapshot-resp':
      return { type, ...env, snapshotIndex: genUint(r), nextOffset: genUint(r), installed: r.chance(0.5) };
    case 'timeout-now':
      return { type, ...env };
    case 'read-index':
      return { type, ...env, requestId: genInt(r) };
    case 'read-index-resp':
      return { type, ...env, requestId: genInt(r), index: r.chance(0.3) ? -1 : genInt(r) };
  }
}

export function genBatch(r: Rng, maxLen = 12): Message[] {
  return Array.from({ length: r.int(0, maxLen) }, () => genMessage(r));
}

// ------------------------------------------------------------------ validity

const isUint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0);
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isStr = (v: unknown): boolean => typeof v === 'string';

function keysAre(o: object, keys: string[]): boolean {
  const own = Object.keys(o).sort();
  const want = keys.slice().sort();
  return own.length === want.length && own.every((k, i) => k === want[i]);
}

/** Returns a description of what is wrong with `m`, or null when it is a well-formed message. */
export function invalidReason(m: unknown): string | null {
  if (!m || typeof m !== 'object') return 'not an object';
  const x = m as Record<string, unknown>;
  if (!isStr(x.from) || !isStr(x.to) || !isUint(x.term)) return 'bad envelope';
  const env = ['type', 'from', 'to', 'term'];
  const check = (fields: Record<string, (v: unknown) => boolean>): string | null => {
    if (!keysAre(x, [...env, ...Object.keys(fields)])) return `unexpected keys ${Object.keys(x).join(',')}`;
    for (const [k, f] of Object.entries(fields)) if (!f(x[k])) return `bad field ${k}`;
    return null;
  };
  switch (x.type) {
    case 'vote':
    case 'pre-vote':
      return check({ lastLogIndex: isUint, lastLogTerm: isUint, transfer: isBool });
    case 'vote-resp':
    case 'pre-vote-resp':
      return check({ granted: isBool });
    case 'append':
      return check({
        prevIndex: isUint,
        prevTerm: isUint,
        commit: isUint,
        entries: (v) =>
          Array.isArray(v) &&
          v.every(
            (e: Entry) =>
              keysAre(e, ['index', 'term', 'type', 'data']) && isUint(e.index) && isUint(e.term) && [0, 1, 2].includes(e.type) && e.data instanceof Uint8Array,
          ),
      });
    case 'append-resp':
      return check({ index: isUint, reject: isBool, hintIndex: isUint, hintTerm: isUint });
    case 'heartbeat':
      return check({ commit: isUint, readRound: isUint });
    case 'heartbeat-resp':
      return check({ readRound: isUint });
    case 'snapshot':
      return check({
        meta: (v) => {
          const meta = v as SnapshotMeta;
          return (
            !!meta &&
            isUint(meta.index) &&
            isUint(meta.term) &&
            isUint(meta.size) &&
            Array.isArray(meta.conf?.voters) &&
            meta.conf.voters.every(isStr) &&
            Array.isArray(meta.conf.learners) &&
            meta.conf.learners.every(isStr) &&
            Object.values(meta.conf.addresses).every(isStr)
          );
        },
        offset: isUint,
        length: isUint,
        done: isBool,
        data: (v) => v instanceof Uint8Array,
      });
    case 'snapshot-resp':
      return check({ snapshotIndex: isUint, nextOffset: isUint, installed: isBool });
    case 'timeout-now':
      return check({});
    case 'read-index':
      return check({ requestId: isInt });
    case 'read-index-resp':
      return check({ requestId: isInt, index: isInt });
    default:
      return `unknown type ${String(x.type)}`;
  }
}

/** Plain-data form for deep comparison (Buffers and Uint8Arrays become hex strings). */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      Object.defineProperty(out, k, { value: plain((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}
