import { hash } from 'node:crypto';

/**
 * The log entry format of the CQRS bridge: one JSON document per entry. Its field names are short
 * because every entry carries them to every node's disk; `v` lets a later version read older logs.
 *
 * - `cmd`: one replicated command (`n` its name, `p` its fields).
 * - `batch`: commands applied all-or-nothing in one entry (`executeAll`).
 * - `evt`: an event published outside apply and marked for broadcast.
 * - `digest`: the leader's state digest at index `i`, which every replica compares with its own.
 * - `ckpt`: checkpoints of `once` event processors (processor name -> last event id handled).
 *
 * `r` is the request id that de-duplicates retries and `h` a hash of what was asked, so that a request
 * id reused for another command is refused instead of answered with the wrong result. `ts` and `s` are
 * fixed by the leader when it proposes: the apply context's timestamp and the seed of its ids. `co` and `ca`,
 * when present, are the correlation and causation ids the request came with.
 */
export type Envelope = CommandEnvelope | BatchEnvelope | EventEnvelope | DigestEnvelope | CheckpointEnvelope;

/** Correlation (`co`) and causation (`ca`) ids; absent when the request had none (and in older entries). */
export interface Traced {
  co?: string;
  ca?: string;
}

export interface CommandEnvelope extends Traced {
  v: 1;
  k: 'cmd';
  n: string;
  p: unknown;
  r: string;
  h: string;
  ts: number;
  s: string;
}

export interface BatchEnvelope extends Traced {
  v: 1;
  k: 'batch';
  c: { n: string; p: unknown }[];
  r: string;
  h: string;
  ts: number;
  s: string;
}

export interface EventEnvelope extends Traced {
  v: 1;
  k: 'evt';
  n: string;
  p: unknown;
  ts: number;
  s: string;
}

export interface DigestEnvelope {
  v: 1;
  k: 'digest';
  i: number;
  d: string;
  /** Digest of each `@ReplicatedState` store and of the session table (`(sessions)`), to name what differs. */
  s?: Record<string, string>;
}

export interface CheckpointEnvelope {
  v: 1;
  k: 'ckpt';
  c: Record<string, string>;
}

/** What a node asks the leader to propose: an envelope before the leader stamps `ts` and `s`. */
export type Unstamped =
  | Omit<CommandEnvelope, 'ts' | 's' | 'v'>
  | Omit<BatchEnvelope, 'ts' | 's' | 'v'>
  | Omit<EventEnvelope, 'ts' | 's' | 'v'>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEnvelope(e: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(e));
}

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Decodes an entry written by {@link encodeEnvelope}; throws {@link EnvelopeError} on anything else. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let e: unknown;
  try {
    e = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new EnvelopeError('entry is not a JSON document');
  }
  if (!isObject(e) || e.v !== 1) throw new EnvelopeError('entry is not a raft-cqrs v1 envelope');
  switch (e.k) {
    case 'cmd':
    case 'evt':
    case 'batch':
    case 'digest':
    case 'ckpt':
      return e as unknown as Envelope;
    default:
      throw new EnvelopeError(`unknown envelope kind ${JSON.stringify(e.k)}`);
  }
}

/**
 * Checks a request forwarded by another node (or built locally) before it is proposed: a wrong shape
 * never reaches the log.
 */
export function checkUnstamped(x: unknown): Unstamped {
  if (!isObject(x)) throw new EnvelopeError('expected an object');
  const str = (v: unknown, field: string, max = 256): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new EnvelopeError(`field "${field}" must be a string of 1-${max} characters`);
    return v;
  };
  const traced: Traced = {};
  if (x.co !== undefined) traced.co = str(x.co, 'co', 200);
  if (x.ca !== undefined) traced.ca = str(x.ca, 'ca', 200);
  if (x.k === 'cmd') return { k: 'cmd', n: str(x.n, 'n'), p: x.p ?? {}, r: str(x.r, 'r'), h: str(x.h, 'h', 64), ...traced };
  if (x.k === 'evt') return { k: 'evt', n: str(x.n, 'n'), p: x.p ?? {}, ...traced };
  if (x.k === 'batch') {
    if (!Array.isArray(x.c) || x.c.length === 0 || x.c.length > 1000) throw new EnvelopeError('field "c" must be an array of 1-1000 commands');
    const c = x.c.map((item: unknown, i: number) => {
      if (!isObject(item)) throw new EnvelopeError(`command ${i} of the batch is not an object`);
      return { n: str(item.n, `c[${i}].n`), p: item.p ?? {} };
    });
    return { k: 'batch', c, r: str(x.r, 'r'), h: str(x.h, 'h', 64), ...traced };
  }
  throw new EnvelopeError(`unknown kind ${JSON.stringify(x.k)}`);
}

/**
 * What a request id stands for: the same id with another hash is a reused key, not a retry. `pj` is
 * each command's fields as JSON text (see `jsonTextForLog`).
 */
export function requestHash(parts: { n: string; pj: string }[]): string {
  let text = '';
  for (const part of parts) text += `${part.n}\0${part.pj}\0`;
  return hash('sha256', text, 'hex').slice(0, 32);
}

/**
 * A request serialised once, when it is made: the same text is measured against the size limit, sent to
 * the leader by a follower, and stamped into the log entry by the leader.
 */
export interface EncodedRequest {
  readonly k: Unstamped['k'];
  /** The command names (one, or a batch's) or the event's name. */
  readonly names: readonly string[];
  /** The unstamped envelope as a JSON object text. */
  readonly json: string;
}

const q = (s: string): string => JSON.stringify(s);

/** The correlation and causation ids as the fields that end a request's JSON text (nothing when there are none). */
function tracedFields(t: Traced): string {
  return `${t.co === undefined ? '' : `,"co":${q(t.co)}`}${t.ca === undefined ? '' : `,"ca":${q(t.ca)}`}`;
}

export function encodeCommandRequest(n: string, pj: string, r: string, t: Traced = {}): EncodedRequest {
  const h = requestHash([{ n, pj }]);
  return { k: 'cmd', names: [n], json: `{"k":"cmd","n":${q(n)},"p":${pj},"r":${q(r)},"h":${q(h)}${tracedFields(t)}}` };
}

export function encodeBatchRequest(c: { n: string; pj: string }[], r: string, t: Traced = {}): EncodedRequest {
  const items = c.map((i) => `{"n":${q(i.n)},"p":${i.pj}}`).join(',');
  return { k: 'batch', names: c.map((i) => i.n), json: `{"k":"batch","c":[${items}],"r":${q(r)},"h":${q(requestHash(c))}${tracedFields(t)}}` };
}

export function encodeEventRequest(n: string, pj: string, t: Traced = {}): EncodedRequest {
  return { k: 'evt', names: [n], json: `{"k":"evt","n":${q(n)},"p":${pj}${tracedFields(t)}}` };
}

/** A request that arrived as an object (forwarded by another node, after {@link checkUnstamped}). */
export function encodeUnstamped(u: Unstamped): EncodedRequest {
  return { k: u.k, names: u.k === 'batch' ? u.c.map((c) => c.n) : [u.n], json: JSON.stringify(u) };
}

/** The log entry of `req` as the leader stamps it: `v`, `ts` and `s` put in front of the request's own text. */
export function stampRequest(req: EncodedRequest, ts: number, s: string): Uint8Array {
  return encoder.encode(`{"v":1,"ts":${ts},"s":${q(s)},${req.json.slice(1)}`);
}

/** Why `req` is over `maxBytes` serialised, or null when it is not. */
export function oversizeReason(req: EncodedRequest, maxBytes: number): string | null {
  // One byte per character at most three times over: most requests need no exact count.
  if (req.json.length * 3 <= maxBytes) return null;
  const size = Buffer.byteLength(req.json);
  if (size <= maxBytes) return null;
  return `the ${req.k === 'evt' ? 'event' : 'command'} is ${size} bytes serialised, over the limit of ${maxBytes}`;
}
