/**
 * Binary wire format for batches of Raft messages (peer-to-peer traffic).
 *
 * Layout (all multi-byte fixed-width integers little-endian):
 *
 *   batch   := magic:u8 (0x52 'R') version:u8 (1) strCount:uvarint string* msgCount:uvarint frame*
 *   string  := byteLen:uvarint utf8-bytes            (the batch's string table: node ids, addresses)
 *   frame   := type:u8 bodyLen:u32 body              (body is exactly bodyLen bytes)
 *   body    := from:str to:str term:uint <type-specific fields>
 *   str     := uvarint index into the string table
 *   uint    := unsigned LEB128 varint, at most 8 bytes, value <= Number.MAX_SAFE_INTEGER, canonical
 *   int     := sign:u8 (0|1) magnitude:uint          (signed fields: requestId, read-index-resp index)
 *   bool    := u8 0|1
 *   bytes   := len:uint raw-bytes
 *   entry   := index:uint term:uint type:u8 (0..2) data:bytes
 *
 * Type-specific fields, in order:
 *   1 vote / 2 pre-vote          lastLogIndex:uint lastLogTerm:uint transfer:bool
 *   3 vote-resp / 4 pre-vote-resp granted:bool
 *   5 append                     prevIndex:uint prevTerm:uint commit:uint count:uint entry*
 *   6 append-resp                index:uint reject:bool hintIndex:uint hintTerm:uint
 *   7 heartbeat                  commit:uint readRound:uint
 *   8 heartbeat-resp             readRound:uint
 *   9 snapshot                   meta offset:uint length:uint done:bool data:bytes
 *        meta := index:uint term:uint size:uint nVoters:uint str* nLearners:uint str* nAddr:uint (str str)*
 *  10 snapshot-resp              snapshotIndex:uint nextOffset:uint installed:bool
 *  11 timeout-now                (nothing)
 *  12 read-index                 requestId:int
 *  13 read-index-resp            requestId:int index:int
 *
 * Decoding is strict: anything truncated, garbled, non-canonical or claiming more bytes than present
 * throws {@link CodecError}; a decoded batch is always fully valid. Entry `data` and snapshot `data`
 * are zero-copy views (`Buffer`, a `Uint8Array`) into the input buffer: a retained entry keeps the
 * whole input buffer alive, so a consumer that stores entries for long may want to copy them.
 */
import { Entry, EntryType, Message, SnapshotMeta } from '../core/types';

export const CODEC_MAGIC = 0x52;
export const CODEC_VERSION = 1;

/** Longest string (node id, address) accepted, in UTF-8 bytes. */
export const MAX_STRING_BYTES = 4096;
const MAX_STRINGS = 1 << 21; // string indexes then fit in 3 varint bytes

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const TYPE_CODES = {
  vote: 1,
  'pre-vote': 2,
  'vote-resp': 3,
  'pre-vote-resp': 4,
  append: 5,
  'append-resp': 6,
  heartbeat: 7,
  'heartbeat-resp': 8,
  snapshot: 9,
  'snapshot-resp': 10,
  'timeout-now': 11,
  'read-index': 12,
  'read-index-resp': 13,
} as const satisfies Record<Message['type'], number>;

const MAX_ENTRY_TYPE = 2; // EntryType.ConfChange
const UINT_MAX_BYTES = 8;
const STR_IDX_MAX_BYTES = 3;
const FRAME_HEADER = 5;
/** Bytes of a frame's common part (header, from, to, term). */
const COMMON_MAX = FRAME_HEADER + 2 * STR_IDX_MAX_BYTES + UINT_MAX_BYTES;
const ENTRY_FIXED_MAX = 3 * UINT_MAX_BYTES + 1;

// ------------------------------------------------------------------ sizes

function stringBound(s: unknown): number {
  // A UTF-16 code unit is at most 3 UTF-8 bytes; plus its length prefix and its index.
  return typeof s === 'string' ? s.length * 3 + 2 + STR_IDX_MAX_BYTES : 0;
}

function bytesLen(b: unknown): number {
  return b instanceof Uint8Array ? b.length : 0;
}

/** Upper bound of a message's frame, not counting the string table. */
function frameBound(m: Message): number {
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      return COMMON_MAX + 2 * UINT_MAX_BYTES + 1;
    case 'vote-resp':
    case 'pre-vote-resp':
      return COMMON_MAX + 1;
    case 'append': {
      let n = COMMON_MAX + 4 * UINT_MAX_BYTES;
      const entries = m.entries;
      if (Array.isArray(entries)) for (let i = 0; i < entries.length; i++) n += ENTRY_FIXED_MAX + bytesLen(entries[i]?.data);
      return n;
    }
    case 'append-resp':
      return COMMON_MAX + 3 * UINT_MAX_BYTES + 1;
    case 'heartbeat':
      return COMMON_MAX + 2 * UINT_MAX_BYTES;
    case 'heartbeat-resp':
      return COMMON_MAX + UINT_MAX_BYTES;
    case 'snapshot': {
      const conf = m.meta?.conf;
      const nStr = (conf?.voters?.length ?? 0) + (conf?.learners?.length ?? 0) + 2 * Object.keys(conf?.addresses ?? {}).length;
      return COMMON_MAX + 6 * UINT_MAX_BYTES + 3 * UINT_MAX_BYTES + nStr * STR_IDX_MAX_BYTES + 1 + UINT_MAX_BYTES + bytesLen(m.data);
    }
    case 'snapshot-resp':
      return COMMON_MAX + 2 * UINT_MAX_BYTES + 1;
    case 'timeout-now':
      return COMMON_MAX;
    case 'read-index':
      return COMMON_MAX + 1 + UINT_MAX_BYTES;
    case 'read-index-resp':
      return COMMON_MAX + 2 * (1 + UINT_MAX_BYTES);
    default:
      throw new CodecError(`cannot encode message: unknown type ${JSON.stringify((m as { type?: unknown }).type)}`);
  }
}

/**
 * An upper bound of the bytes `m` adds to an encoded batch (counting its strings as if no other message
 * shared them). Cheap: used by the transport to size batches and bound queues.
 */
export function estimateEncodedSize(m: Message): number {
  let n = frameBound(m) + stringBound(m.from) + stringBound(m.to);
  if (m.type === 'snapshot') {
    const conf = m.meta?.conf;
    if (conf) {
      for (const s of conf.voters ?? []) n += stringBound(s);
      for (const s of conf.learners ?? []) n += stringBound(s);
      for (const [k, v] of Object.entries(conf.addresses ?? {})) n += stringBound(k) + stringBound(v);
    }
  }
  return n;
}

/** Fixed bytes of a batch besides its messages. */
export const BATCH_OVERHEAD = 2 + 2 * UINT_MAX_BYTES;

// ------------------------------------------------------------------ encoding

class Writer {
  pos = 0;
  readonly strings = new Map<string, number>();
  readonly stringList: string[] = [];
  constructor(public buf: Buffer) {}

  intern(s: unknown, field: string): void {
    if (typeof s !== 'string') throw new CodecError(`cannot encode ${field}: expected a string`);
    if (!this.strings.has(s)) {
      if (this.stringList.length >= MAX_STRINGS) throw new CodecError('cannot encode batch: too many distinct strings');
      this.strings.set(s, this.stringList.length);
      this.stringList.push(s);
    }
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  uint(v: unknown, field: string): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new CodecError(`cannot encode ${field}: expected a non-negative safe integer, got ${String(v)}`);
    }
    this.uvarint(v);
  }

  uvarint(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0xffffffff) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  int(v: unknown, field: string): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new CodecError(`cannot encode ${field}: expected a safe integer, got ${String(v)}`);
    }
    if (v < 0) {
      this.buf[this.pos++] = 1;
      this.uvarint(-v);
    } else {
      this.buf[this.pos++] = 0;
      this.uvarint(v); // -0 encodes as 0
    }
  }

  bool(v: unknown, field: string): void {
    if (typeof v !== 'boolean') throw new CodecError(`cannot encode ${field}: expected a boolean`);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  str(s: string): void {
    this.uvarint(this.strings.get(s)!);
  }

  bytes(b: unknown, field: string): void {
    if (!(b instanceof Uint8Array)) throw new CodecError(`cannot encode ${field}: expected a Uint8Array`);
    this.uvarint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function internMessage(w: Writer, m: Message, i: number): void {
  w.intern(m.from, `message[${i}].from`);
  w.intern(m.to, `message[${i}].to`);
  if (m.type === 'snapshot') {
    const conf = m.meta?.conf;
    if (!conf || typeof conf !== 'object') throw new CodecError(`cannot encode message[${i}].meta.conf: missing`);
    if (!Array.isArray(conf.voters) || !Array.isArray(conf.learners) || !conf.addresses || typeof conf.addresses !== 'object') {
      throw new CodecError(`cannot encode message[${i}].meta.conf: expected voters, learners and addresses`);
    }
    for (const s of conf.voters) w.intern(s, `message[${i}].meta.conf.voters`);
    for (const s of conf.learners) w.intern(s, `message[${i}].meta.conf.learners`);
    for (const [k, v] of Object.entries(conf.addresses)) {
      w.intern(k, `message[${i}].meta.conf.addresses`);
      w.intern(v, `message[${i}].meta.conf.addresses[${k}]`);
    }
  }
}

function writeMeta(w: Writer, meta: SnapshotMeta): void {
  w.uint(meta.index, 'snapshot.meta.index');
  w.uint(meta.term, 'snapshot.meta.term');
  w.uint(meta.size, 'snapshot.meta.size');
  const conf = meta.conf;
  w.uvarint(conf.voters.length);
  for (const s of conf.voters) w.str(s);
  w.uvarint(conf.learners.length);
  for (const s of conf.learners) w.str(s);
  const addrs = Object.entries(conf.addresses);
  w.uvarint(addrs.length);
  for (const [k, v] of addrs) {
    w.str(k);
    w.str(v);
  }
}

function writeEntries(w: Writer, entries: unknown): void {
  if (!Array.isArray(entries)) throw new CodecError('cannot encode append.entries: expected an array');
  w.uvarint(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (!e || typeof e !== 'object') throw new CodecError(`cannot encode append.entries[${i}]: expected an entry`);
    w.uint(e.index, 'append.entries.index');
    w.uint(e.term, 'append.entries.term');
    const t = e.type as number;
    if (t !== 0 && t !== 1 && t !== 2) throw new CodecError(`cannot encode append.entries[${i}].type: unknown entry type ${String(t)}`);
    w.u8(t);
    w.bytes(e.data, 'append.entries.data');
  }
}

function writeFrame(w: Writer, m: Message): void {
  const code = TYPE_CODES[m.type];
  w.u8(code);
  const lenPos = w.pos;
  w.pos += 4;
  w.str(m.from);
  w.str(m.to);
  w.uint(m.term, 'term');
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      w.uint(m.lastLogIndex, 'vote.lastLogIndex');
      w.uint(m.lastLogTerm, 'vote.lastLogTerm');
      w.bool(m.transfer, 'vote.transfer');
      break;
    case 'vote-resp':
    case 'pre-vote-resp':
      w.bool(m.granted, 'vote-resp.granted');
      break;
    case 'append':
      w.uint(m.prevIndex, 'append.prevIndex');
      w.uint(m.prevTerm, 'append.prevTerm');
      w.uint(m.commit, 'append.commit');
      writeEntries(w, m.entries);
      break;
    case 'append-resp':
      w.uint(m.index, 'append-resp.index');
      w.bool(m.reject, 'append-resp.reject');
      w.uint(m.hintIndex, 'append-resp.hintIndex');
      w.uint(m.hintTerm, 'append-resp.hintTerm');
      break;
    case 'heartbeat':
      w.uint(m.commit, 'heartbeat.commit');
      w.uint(m.readRound, 'heartbeat.readRound');
      break;
    case 'heartbeat-resp':
      w.uint(m.readRound, 'heartbeat-resp.readRound');
      break;
    case 'snapshot':
      writeMeta(w, m.meta);
      w.uint(m.offset, 'snapshot.offset');
      w.uint(m.length, 'snapshot.length');
      w.bool(m.done, 'snapshot.done');
      w.bytes(m.data, 'snapshot.data');
      break;
    case 'snapshot-resp':
      w.uint(m.snapshotIndex, 'snapshot-resp.snapshotIndex');
      w.uint(m.nextOffset, 'snapshot-resp.nextOffset');
      w.bool(m.installed, 'snapshot-resp.installed');
      break;
    case 'timeout-now':
      break;
    case 'read-index':
      w.int(m.requestId, 'read-index.requestId');
      break;
    case 'read-index-resp':
      w.int(m.requestId, 'read-index-resp.requestId');
      w.int(m.index, 'read-index-resp.index');
      break;
  }
  w.buf.writeUInt32LE(w.pos - lenPos - 4, lenPos);
}

/**
 * Encodes a batch of messages. Throws {@link CodecError} when a message is not well-formed (wrong field
 * types, non-integer or negative numbers where the format wants them, unknown types).
 */
export function encodeMessages(msgs: readonly Message[]): Buffer {
  if (!Array.isArray(msgs)) throw new CodecError('cannot encode batch: expected an array of messages');
  // Pass 1: bound the size and build the string table.
  const w = new Writer(Buffer.alloc(0));
  let bound = BATCH_OVERHEAD;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (!m || typeof m !== 'object') throw new CodecError(`cannot encode message[${i}]: expected an object`);
    bound += frameBound(m);
    internMessage(w, m, i);
  }
  const encodedStrings: Buffer[] = new Array(w.stringList.length);
  for (let i = 0; i < w.stringList.length; i++) {
    const b = Buffer.from(w.stringList[i], 'utf8');
    if (b.length > MAX_STRING_BYTES) throw new CodecError(`cannot encode string of ${b.length} bytes (limit ${MAX_STRING_BYTES})`);
    encodedStrings[i] = b;
    bound += UINT_MAX_BYTES + b.length;
  }
  // Pass 2: write.
  w.buf = Buffer.allocUnsafe(bound);
  w.u8(CODEC_MAGIC);
  w.u8(CODEC_VERSION);
  w.uvarint(encodedStrings.length);
  for (const b of encodedStrings) {
    w.uvarint(b.length);
    w.buf.set(b, w.pos);
    w.pos += b.length;
  }
  w.uvarint(msgs.length);
  for (let i = 0; i < msgs.length; i++) writeFrame(w, msgs[i]);
  return w.pos === bound ? w.buf : w.buf.subarray(0, w.pos);
}

// ------------------------------------------------------------------ decoding

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos: number;
  end: number;
  strings: string[] = [];
  constructor(
    readonly buf: Buffer,
    pos: number,
    end: number,
  ) {
    this.pos = pos;
    this.end = end;
  }

  fail(what: string): never {
    throw new CodecError(`${what} at byte ${this.pos}`);
  }

  u8(field: string): number {
    if (this.pos >= this.end) this.fail(`truncated: ${field} missing`);
    return this.buf[this.pos++];
  }

  uint(field: string): number {
    const buf = this.buf;
    const end = this.end;
    if (this.pos >= end) this.fail(`truncated: ${field} missing`);
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let result = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < UINT_MAX_BYTES; i++) {
      if (this.pos >= end) this.fail(`truncated: ${field} cut short`);
      b = buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0) this.fail(`non-canonical varint in ${field}`);
        if (result > Number.MAX_SAFE_INTEGER) this.fail(`${field} exceeds the safe integer range`);
        return result;
      }
      mul *= 128;
    }
    return this.fail(`varint too long in ${field}`);
  }

  int(field: string): number {
    const sign = this.u8(field);
    if (sign > 1) this.fail(`bad sign byte ${sign} in ${field}`);
    const mag = this.uint(field);
    if (sign === 1) {
      if (mag === 0) this.fail(`non-canonical negative zero in ${field}`);
      return -mag;
    }
    return mag;
  }

  bool(field: string): boolean {
    const b = this.u8(field);
    if (b > 1) this.fail(`bad boolean ${b} in ${field}`);
    return b === 1;
  }

  str(field: string): string {
    const i = this.uint(field);
    if (i >= this.strings.length) this.fail(`${field} refers to string ${i} of ${this.strings.length}`);
    return this.strings[i];
  }

  /** A count of items each at least `minItemBytes` long: bounded by what is left, so no allocation bombs. */
  count(field: string, minItemBytes: number): number {
    const n = this.uint(field);
    if (n * minItemBytes > this.end - this.pos) this.fail(`${field} claims ${n} items, more than the bytes left`);
    return n;
  }

  bytes(field: string): Buffer {
    const len = this.uint(field);
    if (len > this.end - this.pos) this.fail(`truncated: ${field} claims ${len} bytes, ${this.end - this.pos} left`);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
}

function readMeta(r: Reader): SnapshotMeta {
  const index = r.uint('snapshot.meta.index');
  const term = r.uint('snapshot.meta.term');
  const size = r.uint('snapshot.meta.size');
  const nv = r.count('snapshot.meta.conf.voters', 1);
  const voters: string[] = new Array(nv);
  for (let i = 0; i < nv; i++) voters[i] = r.str('snapshot.meta.conf.voters');
  const nl = r.count('snapshot.meta.conf.learners', 1);
  const learners: string[] = new Array(nl);
  for (let i = 0; i < nl; i++) learners[i] = r.str('snapshot.meta.conf.learners');
  const na = r.count('snapshot.meta.conf.addresses', 2);
  const addresses: Record<string, string> = {};
  for (let i = 0; i < na; i++) {
    const k = r.str('snapshot.meta.conf.addresses');
    const v = r.str('snapshot.meta.conf.addresses');
    if (Object.prototype.hasOwnProperty.call(addresses, k)) r.fail(`duplicate address key in snapshot.meta.conf`);
    // defineProperty: a key such as "__proto__" stays a plain own property.
    Object.defineProperty(addresses, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return { index, term, conf: { voters, learners, addresses }, size };
}

function readEntries(r: Reader): Entry[] {
  const n = r.count('append.entries', 4);
  const entries: Entry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const index = r.uint('entry.index');
    const term = r.uint('entry.term');
    const type = r.u8('entry.type');
    if (type > MAX_ENTRY_TYPE) r.fail(`unknown entry type ${type}`);
    const data = r.bytes('entry.data');
    entries[i] = { index, term, type: type as EntryType, data };
  }
  return entries;
}

function readFrame(r: Reader, code: number): Message {
  const from = r.str('from');
  const to = r.str('to');
  const term = r.uint('term');
  switch (code) {
    case 1:
    case 2:
      return {
        type: code === 1 ? 'vote' : 'pre-vote',
        from,
        to,
        term,
        lastLogIndex: r.uint('vote.lastLogIndex'),
        lastLogTerm: r.uint('vote.lastLogTerm'),
        transfer: r.bool('vote.transfer'),
      };
    case 3:
    case 4:
      return { type: code === 3 ? 'vote-resp' : 'pre-vote-resp', from, to, term, granted: r.bool('vote-resp.granted') };
    case 5: {
      const prevIndex = r.uint('append.prevIndex');
      const prevTerm = r.uint('append.prevTerm');
      const commit = r.uint('append.commit');
      const entries = readEntries(r);
      return { type: 'append', from, to, term, prevIndex, prevTerm, entries, commit };
    }
    case 6:
      return {
        type: 'append-resp',
        from,
        to,
        term,
        index: r.uint('append-resp.index'),
        reject: r.bool('append-resp.reject'),
        hintIndex: r.uint('append-resp.hintIndex'),
        hintTerm: r.uint('append-resp.hintTerm'),
      };
    case 7:
      return { type: 'heartbeat', from, to, term, commit: r.uint('heartbeat.commit'), readRound: r.uint('heartbeat.readRound') };
    case 8:
      return { type: 'heartbeat-resp', from, to, term, readRound: r.uint('heartbeat-resp.readRound') };
    case 9: {
      const meta = readMeta(r);
      const offset = r.uint('snapshot.offset');
      const length = r.uint('snapshot.length');
      const done = r.bool('snapshot.done');
      const data = r.bytes('snapshot.data');
      return { type: 'snapshot', from, to, term, meta, offset, data, length, done };
    }
    case 10:
      return {
        type: 'snapshot-resp',
        from,
        to,
        term,
        snapshotIndex: r.uint('snapshot-resp.snapshotIndex'),
        nextOffset: r.uint('snapshot-resp.nextOffset'),
        installed: r.bool('snapshot-resp.installed'),
      };
    case 11:
      return { type: 'timeout-now', from, to, term };
    case 12:
      return { type: 'read-index', from, to, term, requestId: r.int('read-index.requestId') };
    case 13:
      return {
        type: 'read-index-resp',
        from,
        to,
        term,
        requestId: r.int('read-index-resp.requestId'),
        index: r.int('read-index-resp.index'),
      };
    default:
      return r.fail(`unknown message type code ${code}`);
  }
}

/** Minimum frame: type, length, from, to, term. */
const MIN_FRAME = FRAME_HEADER + 3;

/**
 * Decodes a batch produced by {@link encodeMessages}. Throws {@link CodecError} on any malformed input;
 * never returns a partial result.
 */
export function decodeMessages(input: Buffer | Uint8Array): Message[] {
  if (!(input instanceof Uint8Array)) throw new CodecError('cannot decode: expected a Buffer');
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    return decodeBatch(buf);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    // Belt and braces: the contract is "CodecError or a valid batch", whatever the input.
    throw new CodecError(`malformed batch: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeBatch(buf: Buffer): Message[] {
  const r = new Reader(buf, 0, buf.length);
  if (buf.length < 2) r.fail('truncated: batch header missing');
  if (buf[0] !== CODEC_MAGIC) r.fail('not a Raft message batch (bad magic byte)');
  if (buf[1] !== CODEC_VERSION) r.fail(`unsupported codec version ${buf[1]} (expected ${CODEC_VERSION})`);
  r.pos = 2;
  const nStrings = r.count('string table', 1);
  if (nStrings > MAX_STRINGS) r.fail(`string table of ${nStrings} entries is too large`);
  const strings: string[] = new Array(nStrings);
  for (let i = 0; i < nStrings; i++) {
    const len = r.uint('string length');
    if (len > MAX_STRING_BYTES) r.fail(`string of ${len} bytes exceeds the limit of ${MAX_STRING_BYTES}`);
    if (len > r.end - r.pos) r.fail(`truncated: string claims ${len} bytes, ${r.end - r.pos} left`);
    let s: string;
    try {
      s = utf8.decode(buf.subarray(r.pos, r.pos + len));
    } catch {
      return r.fail('invalid UTF-8 in string table');
    }
    strings[i] = s;
    r.pos += len;
  }
  r.strings = strings;
  const nMsgs = r.count('message count', MIN_FRAME);
  const out: Message[] = new Array(nMsgs);
  for (let i = 0; i < nMsgs; i++) {
    r.end = buf.length;
    const code = r.u8('message type');
    if (r.end - r.pos < 4) r.fail('truncated: frame length missing');
    const len = buf.readUInt32LE(r.pos);
    r.pos += 4;
    if (len > buf.length - r.pos) r.fail(`truncated: frame ${i} claims ${len} bytes, ${buf.length - r.pos} left`);
    const frameEnd = r.pos + len;
    r.end = frameEnd;
    out[i] = readFrame(r, code);
    if (r.pos !== frameEnd) r.fail(`frame ${i} has ${frameEnd - r.pos} unexpected trailing bytes`);
  }
  r.end = buf.length;
  if (r.pos !== buf.length) r.fail(`${buf.length - r.pos} unexpected trailing bytes after the last frame`);
  return out;
}
