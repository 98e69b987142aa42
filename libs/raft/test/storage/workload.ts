/*
 * A random storage workload shaped like Raft's (appends in batches, hard state changes, conflicting
 * tails replaced under a new term, snapshots taken locally and installed from a leader), and a model
 * of what must be on disk after a crash. Used by the in-process power-loss test and by the child
 * process of the SIGKILL crash test, so it imports nothing but storage types and Node built-ins.
 */
import type { Entry, HardState, SnapshotMeta } from '../../src/core/types';
import type { LoadedState, RaftStorage } from '../../src/storage/types';

export const CONF = { voters: ['n1', 'n2', 'n3'], learners: [], addresses: {} };
export const INITIAL: SnapshotMeta = { index: 0, term: 0, conf: CONF, size: 0 };

/** What the workload believes is durable: the log's shape (terms only) and the hard state. */
export interface ModelState {
  snapIndex: number;
  snapTerm: number;
  snapSize: number;
  /** Terms of entries snapIndex+1 .. snapIndex+terms.length. */
  terms: number[];
  hs: HardState;
}

export type Op =
  | { kind: 'save'; hs: HardState | null; first: number; count: number; term: number }
  | { kind: 'snap'; index: number; term: number; size: number };

/** An entry's payload is a function of (index, term): a copy that is not intact, or misplaced, shows. */
export function payload(index: number, term: number): Uint8Array {
  const len = 8 + ((index * 7 + term * 13) % 240);
  const out = new Uint8Array(len);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 16) & 0xff;
  }
  out[0] = index & 0xff;
  out[1] = term & 0xff;
  return out;
}

export function makeEntry(index: number, term: number): Entry {
  return { index, term, type: 0, data: payload(index, term) };
}

/** Byte `offset + i` of the snapshot at (index, term). */
export function snapshotBytes(index: number, term: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const k = offset + i;
    out[i] = (index * 31 + term * 17 + k * 7 + (k >>> 8) * 3) & 0xff;
  }
  return out;
}

export function fromLoaded(s: LoadedState): ModelState {
  return {
    snapIndex: s.snapshot.index,
    snapTerm: s.snapshot.term,
    snapSize: s.snapshot.size,
    terms: s.entries.map((e) => e.term),
    hs: { ...s.hardState },
  };
}

export function lastIndex(m: ModelState): number {
  return m.snapIndex + m.terms.length;
}

export function termAt(m: ModelState, index: number): number {
  if (index === m.snapIndex) return m.snapTerm;
  if (index < m.snapIndex || index > lastIndex(m)) return -1;
  return m.terms[index - m.snapIndex - 1];
}

/** The state after `op` is durable. */
export function applyOp(m: ModelState, op: Op): ModelState {
  const next: ModelState = { ...m, terms: m.terms.slice(), hs: { ...m.hs } };
  if (op.kind === 'save') {
    if (op.hs !== null) next.hs = { ...op.hs };
    if (op.count > 0) {
      next.terms.length = op.first - m.snapIndex - 1;
      for (let i = 0; i < op.count; i++) next.terms.push(op.term);
    }
    return next;
  }
  if (op.index <= m.snapIndex) return next;
  const keep = op.index <= lastIndex(m) && termAt(m, op.index) === op.term;
  next.terms = keep ? m.terms.slice(op.index - m.snapIndex) : [];
  next.snapIndex = op.index;
  next.snapTerm = op.term;
  next.snapSize = op.size;
  return next;
}

export class Workload {
  constructor(
    private readonly random: () => number,
    public state: ModelState,
    private readonly maxSnapshotBytes = 200_000,
  ) {}

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  next(): Op {
    const m = this.state;
    const last = lastIndex(m);
    const term = Math.max(m.hs.term, m.terms.length > 0 ? m.terms[m.terms.length - 1] : m.snapTerm, 1);
    const commit = Math.max(m.snapIndex, Math.min(m.hs.commit, last));
    const r = this.random();
    if (r < 0.04) {
      const t = m.hs.term + this.int(0, 1);
      return { kind: 'save', hs: { term: t, vote: `n${this.int(1, 3)}`, commit }, first: last + 1, count: 0, term: t };
    }
    if (r < 0.12) {
      // A new leader replaces our uncommitted tail.
      const from = this.int(Math.max(m.snapIndex, commit) + 1, last + 1);
      const t = term + 1;
      return { kind: 'save', hs: { term: t, vote: `n${this.int(1, 3)}`, commit }, first: from, count: this.int(1, 20), term: t };
    }
    if (r < 0.18 && last > m.snapIndex) {
      const index = this.int(m.snapIndex + 1, last);
      return { kind: 'snap', index, term: termAt(m, index), size: this.snapSize() };
    }
    if (r < 0.21) {
      // A snapshot from the leader: sometimes it matches our log, sometimes it does not.
      const index = last + this.int(-2, 4);
      if (index > m.snapIndex) {
        const t = this.random() < 0.5 && index <= last ? termAt(m, index) : term + this.int(0, 1);
        return { kind: 'snap', index, term: t, size: this.snapSize() };
      }
    }
    const count = this.random() < 0.05 ? this.int(100, 400) : this.int(1, 30);
    const hs = this.random() < 0.5 ? null : { term, vote: m.hs.vote, commit: Math.min(last, commit + this.int(0, 10)) };
    if (hs !== null && hs.term !== m.hs.term) hs.vote = null;
    return { kind: 'save', hs: hs ?? (term !== m.hs.term ? { term, vote: null, commit } : null), first: last + 1, count, term };
  }

  private snapSize(): number {
    const r = this.random();
    if (r < 0.2) return 0;
    if (r < 0.9) return this.int(1, 5000);
    return this.int(5000, this.maxSnapshotBytes);
  }
}

/** Performs `op` on `storage` (snapshots streamed in chunks). */
export async function runOp(storage: RaftStorage, op: Op, chunk = 64 * 1024): Promise<void> {
  if (op.kind === 'save') {
    const entries: Entry[] = [];
    for (let i = 0; i < op.count; i++) entries.push(makeEntry(op.first + i, op.term));
    await storage.save(op.hs, entries);
    return;
  }
  const w = storage.beginSnapshot({ index: op.index, term: op.term, conf: CONF, size: op.size });
  for (let at = 0; at < op.size; at += chunk) {
    await w.write(at, snapshotBytes(op.index, op.term, at, Math.min(chunk, op.size - at)));
  }
  await w.commit();
}

export function encodeOp(op: Op): string {
  return JSON.stringify(op);
}

/** The states a crash may leave, given the acknowledged state and the operation that was in flight. */
export function possibleStates(acked: ModelState, inflight: Op | null): ModelState[] {
  if (inflight === null) return [acked];
  if (inflight.kind === 'snap') return [acked, applyOp(acked, inflight)];
  // The write holds, in order: a hard state with the new term and vote (and the commit on disk) when the
  // save changes them and has entries; the entries; the save's hard state. A crash keeps any prefix.
  const hs = inflight.hs;
  const leading = hs !== null && inflight.count > 0 && (hs.term !== acked.hs.term || hs.vote !== acked.hs.vote) ? { term: hs.term, vote: hs.vote, commit: acked.hs.commit } : null;
  const before = leading === null ? acked : applyOp(acked, { ...inflight, hs: leading, count: 0 });
  const out = [acked, before];
  for (let k = 1; k <= inflight.count; k++) out.push(applyOp(before, { ...inflight, hs: null, count: k }));
  out.push(applyOp(acked, inflight));
  return out;
}

function describeState(m: ModelState): string {
  const t = m.terms;
  const runs: string[] = [];
  for (let i = 0; i < t.length; ) {
    let j = i;
    while (j + 1 < t.length && t[j + 1] === t[i]) j++;
    runs.push(`${m.snapIndex + 1 + i}-${m.snapIndex + 1 + j}@${t[i]}`);
    i = j + 1;
  }
  return `snap ${m.snapIndex}/${m.snapTerm} (${m.snapSize} B), hs ${JSON.stringify(m.hs)}, log [${runs.join(' ')}]`;
}

function sameState(a: ModelState, b: ModelState): boolean {
  return (
    a.snapIndex === b.snapIndex &&
    a.snapTerm === b.snapTerm &&
    a.snapSize === b.snapSize &&
    a.hs.term === b.hs.term &&
    a.hs.vote === b.hs.vote &&
    a.hs.commit === b.hs.commit &&
    a.terms.length === b.terms.length &&
    a.terms.every((t, i) => t === b.terms[i])
  );
}

/**
 * Checks what `storage` recovered (`loaded`, just returned by open) against the model: it must be one
 * of the states the crash may leave (so every acknowledged entry, hard state and snapshot is there),
 * every entry must be intact and in order, also when read back from disk, and so must the snapshot.
 * Returns the problems found (empty: all good).
 */
export async function verifyRecovered(storage: RaftStorage, loaded: LoadedState, acked: ModelState, inflight: Op | null): Promise<string[]> {
  const problems: string[] = [];
  const got = fromLoaded(loaded);
  loaded.entries.forEach((e, i) => {
    const want = loaded.snapshot.index + 1 + i;
    if (e.index !== want) problems.push(`entry at position ${i} has index ${e.index}, expected ${want}`);
    else if (e.type !== 0 || !sameBytes(e.data, payload(e.index, e.term))) problems.push(`entry ${e.index} (term ${e.term}) is not intact`);
  });
  const allowed = possibleStates(acked, inflight);
  if (!allowed.some((s) => sameState(s, got))) {
    problems.push(
      `recovered state is not one a crash may leave:\n  got       ${describeState(got)}\n` +
        allowed.map((s) => `  allowed   ${describeState(s)}`).join('\n'),
    );
  }
  if (loaded.entries.length > 0) {
    const back = await storage.readEntries(loaded.entries[0].index, loaded.entries[loaded.entries.length - 1].index);
    if (back.length !== loaded.entries.length || back.some((e, i) => e.index !== loaded.entries[i].index || e.term !== loaded.entries[i].term || !sameBytes(e.data, loaded.entries[i].data))) {
      problems.push('entries read back through the index differ from those recovered');
    }
  }
  const snap = loaded.snapshot;
  let at = 0;
  for await (const chunk of storage.snapshotChunks(50_000)) {
    if (!sameBytes(chunk, snapshotBytes(snap.index, snap.term, at, chunk.length))) problems.push(`snapshot ${snap.index} differs at ${at}`);
    at += chunk.length;
  }
  if (at !== snap.size) problems.push(`snapshot ${snap.index} has ${at} bytes, meta says ${snap.size}`);
  return problems;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Deterministic random numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
