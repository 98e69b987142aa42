/**
 * Linearizability checker for concurrent histories (used by the Raft simulator).
 *
 * Algorithm
 * ---------
 * Wing & Gong's search for a linearization, with Lowe's "just-in-time"
 * refinement and memoisation (the approach popularised by porcupine):
 *
 *  1. Every operation contributes a call event and a return event. The events
 *     are sorted by time into a doubly linked list (with a sentinel head).
 *  2. Depth-first search: walk the list from the head. On a call event, try to
 *     linearize that operation now (ask the model whether it is legal in the
 *     current state with the observed output). If it is, and the resulting
 *     node (set of linearized operations, model state) is not already known
 *     to be a dead end, push it on a stack, lift its call and return events
 *     out of the list and restart from the head. On a return event, the
 *     operation owning it must already have been linearized but was not, so
 *     the current node is a dead end: remember it, undo the last choice
 *     (pop, put its events back) and try the next candidate after it.
 *  3. The history is linearizable when every operation whose outcome is known
 *     has been linearized; it is not when we must backtrack past the start.
 *
 * The memo (bitset of linearized operations + model state key) is what makes
 * this practical: two search paths that linearized the same set of operations
 * and ended in the same state have the same future, so the second is pruned.
 * It is slightly generalised for unknown-outcome operations (see below): a
 * node that failed also rules out nodes with the same known operations and
 * state but a superset of the optional operations applied (see FailedNodes).
 *
 * If the model supplies `partition`, the history is split into independent
 * sub-histories (e.g. one per key) that are checked separately, which is sound
 * for models whose state is a product of independent parts (linearizability is
 * compositional / "P-compositional").
 *
 * Real-time order and equal timestamps
 * ------------------------------------
 * Operation A precedes operation B (A must be linearized before B) when
 * A.ret < B.call, and ALSO when A.ret === B.call: a return and a call at the
 * same timestamp are treated as ordered (return first), i.e. NOT concurrent.
 * This is the strict reading, so it can only reject more histories, never
 * fewer; a simulator that stamps a response and a later request with the same
 * tick must make sure the request really could not have been observed by the
 * response (in a discrete-event simulator this holds when the response was
 * delivered before the request was issued).
 *
 * The one exception is zero-length operations (call === ret): several of them
 * at the same instant would otherwise each have to precede the other, so
 * zero-length operations at the same instant are concurrent with each other
 * (but still after operations returning at that instant and before operations
 * invoked at that instant). Concretely, events at the same time are ordered:
 * returns of ops with call < t, calls of zero-length ops, returns of
 * zero-length ops, calls of ops with ret > t.
 *
 * Operations with unknown outcome
 * -------------------------------
 * An operation whose outcome is unknown (e.g. a write whose client timed out)
 * has `ret === Infinity` and `output === undefined`. It may take effect at any
 * point after its invocation, or never: it is never required to be
 * linearized, and when it is, `model.step` receives `output === undefined`
 * and must accept any outcome. (The search succeeds as soon as every
 * operation with a finite return time is linearized.) As a sound pruning,
 * applying an unknown-outcome operation that does not change the model state
 * key is skipped: it is equivalent to never applying it.
 *
 * Cost: with no unknown-outcome operations the search is cheap for bounded
 * concurrency (roughly linear in the history length). Every unknown-outcome
 * operation stays a candidate for the rest of the history, so a history with
 * many of them (say > 5% of a partition's operations) that is NOT
 * linearizable can take exponential time to refute; use `timeoutMs` (and
 * `maxStates`, which bounds the memo's memory, default 10 million entries).
 * Linearizable histories are usually found quickly either way.
 *
 * An operation with a finite `ret` but `output === undefined` is accepted too:
 * it completed (so it must be linearized within its interval) but its result
 * was not recorded, so the model must accept any output for it.
 *
 * `clientId` is only used in explanations; operations of one client are not
 * required to be sequential (a client that timed out may issue a new request
 * while its earlier one is still in flight).
 *
 * The model's `step` must be pure: it must not mutate the state it is given
 * (the search keeps old states to backtrack to).
 */

/** One completed (or in-flight, outcome unknown) operation of a history. */
export interface Operation<I, O> {
  /** Which client issued the operation; used only for explanations. */
  clientId: number;
  input: I;
  /** Observed output; `undefined` when unknown (timed out, not recorded). */
  output: O | undefined;
  /** Invocation time (finite). */
  call: number;
  /** Response time (>= call), or `Infinity` if the outcome is unknown. */
  ret: number;
}

export interface StepResult<S> {
  ok: boolean;
  state: S;
}

/** A sequential specification of the object under test. */
export interface Model<S, I, O> {
  init(): S;
  /**
   * Whether applying `input` with observed `output` is legal in `state`, and
   * the next state. `output === undefined` means unknown outcome (accept any).
   * Must not mutate `state`.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /** A string (or number) that identifies a state, for the memo cache. */
  key(state: S): string | number;
  /**
   * Optional: split a history into independent sub-histories (e.g. per key);
   * each is checked separately. Must return every operation exactly once.
   */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  /** Optional: human-readable rendering of an operation, for explanations. */
  describe?(input: I, output: O | undefined): string;
  /** Optional: human-readable rendering of a state, for explanations. */
  describeState?(state: S): string;
}

export type Verdict = 'ok' | 'illegal' | 'timeout';

export interface CheckResult {
  verdict: Verdict;
  /**
   * For 'illegal': which partition failed, the longest linearizable prefix the
   * search found, and the operations that could not be placed after it.
   * For 'timeout': which partition could not be decided in time.
   */
  details?: string;
  /** For 'illegal' / 'timeout': index of the partition concerned (0-based). */
  partition?: number;
}

export interface CheckOptions {
  /**
   * Give up (verdict 'timeout') after roughly this many milliseconds of
   * search. Unlimited by default. A history found illegal in some partition
   * is reported as 'illegal' even if another partition timed out.
   */
  timeoutMs?: number;
  /**
   * Give up (verdict 'timeout') once a partition's memo of explored search
   * states holds this many entries, to bound memory (roughly 100 bytes or
   * more per entry). Default 10 million.
   */
  maxStates?: number;
}

/** Thrown for histories that are not well-formed. */
export class MalformedHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedHistoryError';
  }
}

/**
 * Check whether `history` is linearizable with respect to `model`.
 * Throws `MalformedHistoryError` if the history is not well-formed.
 */
export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult {
  validateHistory(history);
  const timeoutMs = opts.timeoutMs ?? Infinity;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`timeoutMs must be a non-negative number, got ${String(timeoutMs)}`);
  }
  const deadline = Date.now() + timeoutMs;
  const maxStates = opts.maxStates ?? DEFAULT_MAX_STATES;
  if (typeof maxStates !== 'number' || Number.isNaN(maxStates) || maxStates < 1) {
    throw new RangeError(`maxStates must be a positive number, got ${String(maxStates)}`);
  }

  const partitions = model.partition ? model.partition(history) : [history];
  validatePartitions(history, partitions);

  const originalIndex = new Map<Operation<I, O>, number>();
  history.forEach((op, i) => {
    if (!originalIndex.has(op)) originalIndex.set(op, i);
  });

  let firstTimeout: { partition: number; reason: string } | undefined;
  for (let p = 0; p < partitions.length; p++) {
    const ops = partitions[p];
    const outcome = searchPartition(model, ops, deadline, maxStates);
    if (outcome.kind === 'illegal') {
      return {
        verdict: 'illegal',
        partition: p,
        details: explainIllegal(model, ops, p, partitions.length, outcome, originalIndex),
      };
    }
    if (outcome.kind === 'timeout' && firstTimeout === undefined) {
      const reason =
        outcome.reason === 'time'
          ? `within ${timeoutMs} ms`
          : `within the limit of ${maxStates} explored search states (maxStates)`;
      firstTimeout = { partition: p, reason };
    }
  }
  if (firstTimeout !== undefined) {
    const p = firstTimeout.partition;
    return {
      verdict: 'timeout',
      partition: p,
      details:
        `Partition ${p + 1} of ${partitions.length} ` +
        `(${plural(partitions[p].length, 'operation')}) could not be decided ${firstTimeout.reason}.`,
    };
  }
  return { verdict: 'ok' };
}

/** Render one operation, e.g. `#3 client 1: put("k", "v") -> "" [call 2, ret 5]`. */
export function describeOperation<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>, index?: number): string {
  const body = model.describe ? model.describe(op.input, op.output) : defaultDescribe(op.input, op.output);
  const ret = op.ret === Infinity ? 'never returned' : `ret ${op.ret}`;
  const prefix = index === undefined ? '' : `#${index} `;
  return `${prefix}client ${op.clientId}: ${body} [call ${op.call}, ${ret}]`;
}

// ---------------------------------------------------------------------------
// Validation

function validateHistory(history: unknown): void {
  if (!Array.isArray(history)) {
    throw new MalformedHistoryError('history must be an array of operations');
  }
  history.forEach((op: unknown, i: number) => validateOperation(op, `operation ${i}`));
}

function validateOperation(op: unknown, where: string): void {
  if (typeof op !== 'object' || op === null) {
    throw new MalformedHistoryError(`${where}: must be an object, got ${op === null ? 'null' : typeof op}`);
  }
  const o = op as Record<string, unknown>;
  const { call, ret, clientId } = o;
  if (typeof clientId !== 'number' || !Number.isFinite(clientId)) {
    throw new MalformedHistoryError(`${where}: clientId must be a finite number, got ${String(clientId)}`);
  }
  if (typeof call !== 'number' || !Number.isFinite(call)) {
    throw new MalformedHistoryError(`${where}: call time must be a finite number, got ${String(call)}`);
  }
  if (typeof ret !== 'number' || Number.isNaN(ret) || ret === -Infinity) {
    throw new MalformedHistoryError(
      `${where}: return time must be a finite number or Infinity (unknown outcome), got ${String(ret)}`,
    );
  }
  if (call > ret) {
    throw new MalformedHistoryError(`${where}: returns before it is invoked (call ${call} > ret ${ret})`);
  }
  if (ret === Infinity && o.output !== undefined) {
    throw new MalformedHistoryError(
      `${where}: never returned (ret = Infinity) but has an output; an unknown-outcome operation must have output undefined`,
    );
  }
}

function validatePartitions<I, O>(history: Operation<I, O>[], partitions: unknown): void {
  if (!Array.isArray(partitions)) {
    throw new MalformedHistoryError('model.partition must return an array of arrays of operations');
  }
  let total = 0;
  partitions.forEach((part: unknown, p: number) => {
    if (!Array.isArray(part)) {
      throw new MalformedHistoryError(`model.partition returned a non-array at index ${p}`);
    }
    part.forEach((op: unknown, i: number) => validateOperation(op, `partition ${p}, operation ${i}`));
    total += part.length;
  });
  if (total !== history.length) {
    throw new MalformedHistoryError(
      `model.partition must return every operation exactly once: got ${total} operations for a history of ${history.length}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Search

/** An event in the doubly linked list. `op` indexes the partition's ops. */
interface EventNode {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  /** Tie-break rank among events at the same time (see file comment). */
  readonly rank: number;
  /** For a call event: its return event. */
  match: EventNode | null;
  prev: EventNode | null;
  next: EventNode | null;
}

interface Frame<S> {
  node: EventNode;
  /** State before this operation was applied (to restore on backtrack). */
  state: S;
  stateKey: string;
}

interface BestPrefix<S> {
  /** Partition-local op indices, in linearization order. */
  order: number[];
  state: S;
  /** Calls that were pending (could be linearized next) after the prefix. */
  candidates: number[];
  /** The op whose return forced the backtrack (earliest pending known return). */
  blocking: number | undefined;
}

type SearchOutcome<S> =
  | { kind: 'ok' }
  | { kind: 'timeout'; reason: 'time' | 'states' }
  | { kind: 'illegal'; best: BestPrefix<S> };

const RANK_RETURN = 0;
const RANK_ZERO_CALL = 1;
const RANK_ZERO_RETURN = 2;
const RANK_CALL = 3;
const CLOCK_CHECK_MASK = 0xfff;
const DEFAULT_MAX_STATES = 10_000_000;

function makeNode(op: number, isCall: boolean, time: number, rank: number): EventNode {
  return { op, isCall, time, rank, match: null, prev: null, next: null };
}

function buildEventList<I, O>(ops: Operation<I, O>[]): EventNode {
  const events: EventNode[] = [];
  ops.forEach((o, i) => {
    const zero = o.call === o.ret;
    const ret = makeNode(i, false, o.ret, zero ? RANK_ZERO_RETURN : RANK_RETURN);
    const call = makeNode(i, true, o.call, zero ? RANK_ZERO_CALL : RANK_CALL);
    call.match = ret;
    events.push(call, ret);
  });
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.rank !== b.rank) return a.rank - b.rank;
    return a.op - b.op;
  });
  const head = makeNode(-1, false, -Infinity, -1);
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function unlink(n: EventNode): void {
  // A node in the list always has a predecessor (at worst the sentinel head).
  (n.prev as EventNode).next = n.next;
  if (n.next) n.next.prev = n.prev;
}

function relink(n: EventNode): void {
  (n.prev as EventNode).next = n;
  if (n.next) n.next.prev = n;
}

/** Remove a call event and its return event from the list. */
function lift(call: EventNode): void {
  unlink(call);
  unlink(call.match as EventNode);
}

/** Undo `lift` (must be done in reverse order of lifting). */
function unlift(call: EventNode): void {
  relink(call.match as EventNode);
  relink(call);
}

class Bitset {
  readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }
  set(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5] &= ~(1 << (i & 31));
  }
  /** A compact string identifying the current contents (fixed length). */
  key(): string {
    return encodeBits(this.words);
  }
}

/** Encode a bitset compactly as a string of 16-bit halves (for storage). */
function encodeBits(words: Uint32Array): string {
  let s = '';
  for (let w = 0; w < words.length; w++) s += String.fromCharCode(words[w] & 0xffff, words[w] >>> 16);
  return s;
}

/** Whether every bit set in the encoded bitset `a` is also set in `b`. */
function isSubsetOf(a: string, b: Uint32Array): boolean {
  for (let w = 0; w < b.length; w++) {
    const bw = b[w];
    if ((a.charCodeAt(2 * w) & ~bw & 0xffff) !== 0) return false;
    if ((a.charCodeAt(2 * w + 1) & ~(bw >>> 16) & 0xffff) !== 0) return false;
  }
  return true;
}

/** Whether every bit set in encoded `a` is also set in encoded `b`. */
function isEncodedSubset(a: string, b: string): boolean {
  for (let i = 0; i < a.length; i++) if ((a.charCodeAt(i) & ~b.charCodeAt(i)) !== 0) return false;
  return true;
}

/**
 * Memo of search nodes that were fully explored without success. A node is
 * (set K of linearized known-outcome ops, set U of applied unknown-outcome
 * ops, model state). If (K, U, s) failed then so does (K, U', s) for any
 * U' ⊇ U: whatever (K, U', s) could still do, (K, U, s) can do too, by simply
 * never applying the optional ops in U' \ U. With no unknown-outcome ops
 * this is exactly porcupine's cache of (linearized set, state).
 *
 * Nodes are recorded when the search backtracks out of them, i.e. once fully
 * explored. (A node still being explored is an ancestor of the current one
 * and has fewer linearized ops, so it can never equal a new node; and pruning
 * only against finished nodes keeps the search complete.)
 */
class FailedNodes {
  /** Used when the partition has no unknown-outcome ops. */
  private readonly exact = new Set<string>();
  /** (K, s) -> antichain of the U sets (encoded) that failed with it. */
  private readonly byKey = new Map<string, string | string[]>();
  /** Number of entries added (an upper bound on what is stored). */
  size = 0;

  constructor(private readonly hasUnknown: boolean) {}

  dominates(key: string, unknown: Bitset): boolean {
    if (!this.hasUnknown) return this.exact.has(key);
    const entry = this.byKey.get(key);
    if (entry === undefined) return false;
    if (typeof entry === 'string') return isSubsetOf(entry, unknown.words);
    for (const u of entry) if (isSubsetOf(u, unknown.words)) return true;
    return false;
  }

  add(key: string, unknown: Bitset): void {
    this.size++;
    if (!this.hasUnknown) {
      this.exact.add(key);
      return;
    }
    const u = encodeBits(unknown.words);
    const entry = this.byKey.get(key);
    if (entry === undefined) {
      this.byKey.set(key, u);
      return;
    }
    // Keep an antichain: drop the stored sets that the new one dominates.
    const kept = (typeof entry === 'string' ? [entry] : entry).filter((old) => !isEncodedSubset(u, old));
    kept.push(u);
    this.byKey.set(key, kept.length === 1 ? kept[0] : kept);
  }
}

function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  deadline: number,
  maxStates: number,
): SearchOutcome<S> {
  const head = buildEventList(ops);
  // Known-outcome and unknown-outcome ops are numbered separately.
  const isUnknown = ops.map((o) => o.ret === Infinity);
  const slot: number[] = [];
  let knownCount = 0;
  let unknownCount = 0;
  for (const u of isUnknown) slot.push(u ? unknownCount++ : knownCount++);
  const known = new Bitset(knownCount);
  const unknown = new Bitset(unknownCount);
  const bitsOf = (op: number): Bitset => (isUnknown[op] ? unknown : known);
  const failed = new FailedNodes(unknownCount > 0);
  const stack: Frame<S>[] = [];
  let state = model.init();
  let stateKey = String(model.key(state));

  let best: BestPrefix<S> | undefined;
  const recordIfDeepest = (): void => {
    if (best && best.order.length >= stack.length) return;
    const candidates: number[] = [];
    let blocking: number | undefined;
    for (let e = head.next; e !== null; e = e.next) {
      if (e.isCall) {
        candidates.push(e.op);
      } else {
        if (e.time !== Infinity) blocking = e.op;
        break;
      }
    }
    best = { order: stack.map((f) => f.node.op), state, candidates, blocking };
  };
  recordIfDeepest();

  let entry = head.next;
  let iterations = 0;
  while (entry !== null) {
    if ((++iterations & CLOCK_CHECK_MASK) === 0 && Date.now() > deadline) return { kind: 'timeout', reason: 'time' };

    if (entry.isCall) {
      // A candidate: its call precedes every pending return. Try it now.
      const candidate = entry;
      entry = candidate.next;
      const op = ops[candidate.op];
      const result = model.step(state, op.input, op.output);
      if (!result.ok) continue;
      const nextKey = String(model.key(result.state));
      // Applying an unknown-outcome op that changes nothing is equivalent to
      // never applying it, which is always allowed: skip it.
      if (isUnknown[candidate.op] && nextKey === stateKey) continue;
      const bits = bitsOf(candidate.op);
      bits.set(slot[candidate.op]);
      if (failed.dominates(known.key() + '|' + nextKey, unknown)) {
        bits.clear(slot[candidate.op]);
        continue;
      }
      stack.push({ node: candidate, state, stateKey });
      state = result.state;
      stateKey = nextKey;
      lift(candidate);
      recordIfDeepest();
      entry = head.next;
    } else if (entry.time === Infinity) {
      // The earliest pending return belongs to an unknown-outcome op, so
      // every op with a known return time has been linearized.
      return { kind: 'ok' };
    } else {
      // The earliest pending return: its op should have been linearized by
      // now, and no remaining candidate works. Dead end: backtrack.
      const top = stack.pop();
      if (top === undefined) return { kind: 'illegal', best: best as BestPrefix<S> };
      failed.add(known.key() + '|' + stateKey, unknown);
      if (failed.size >= maxStates) return { kind: 'timeout', reason: 'states' };
      state = top.state;
      stateKey = top.stateKey;
      bitsOf(top.node.op).clear(slot[top.node.op]);
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { kind: 'ok' };
}

// ---------------------------------------------------------------------------
// Explanations

const MAX_PREFIX_LINES = 25;
const MAX_CANDIDATE_LINES = 25;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function defaultDescribe(input: unknown, output: unknown): string {
  const show = (v: unknown): string => {
    if (v === undefined) return '?';
    try {
      return JSON.stringify(v) ?? String(v);
    } catch {
      return String(v);
    }
  };
  return `${show(input)} -> ${show(output)}`;
}

function explainIllegal<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  partitionIndex: number,
  partitionCount: number,
  outcome: { kind: 'illegal'; best: BestPrefix<S> },
  originalIndex: Map<Operation<I, O>, number>,
): string {
  const { best } = outcome;
  const describe = (i: number): string => describeOperation(model, ops[i], originalIndex.get(ops[i]));
  const stateText = (s: S): string => (model.describeState ? model.describeState(s) : String(model.key(s)));
  const lines: string[] = [];
  lines.push(
    `Partition ${partitionIndex + 1} of ${partitionCount} (${plural(ops.length, 'operation')}) is not linearizable.`,
  );
  const known = ops.filter((o) => o.ret !== Infinity).length;
  lines.push(
    `Longest linearizable prefix found: ${plural(best.order.length, 'operation')} ` +
      `(${plural(known, 'operation')} with a known outcome must all be linearized):`,
  );
  const skip = Math.max(0, best.order.length - MAX_PREFIX_LINES);
  if (skip > 0) lines.push(`  ... ${skip} earlier operations omitted ...`);
  for (let k = skip; k < best.order.length; k++) lines.push(`  ${k + 1}. ${describe(best.order[k])}`);
  lines.push(`State after that prefix: ${stateText(best.state)}`);

  const knownCandidates = best.candidates.filter((i) => ops[i].ret !== Infinity);
  const unknownCount = best.candidates.length - knownCandidates.length;
  if (knownCandidates.length > 0) {
    lines.push('None of the operations that could come next can be applied in that state:');
    for (const i of knownCandidates.slice(0, MAX_CANDIDATE_LINES)) {
      const op = ops[i];
      let note: string;
      try {
        const r = model.step(best.state, op.input, op.output);
        note = r.ok ? 'applies, but leads to a dead end' : 'illegal here';
      } catch (err) {
        note = `model threw: ${err instanceof Error ? err.message : String(err)}`;
      }
      lines.push(`  - ${describe(i)}  (${note})`);
    }
    if (knownCandidates.length > MAX_CANDIDATE_LINES) {
      lines.push(`  ... and ${knownCandidates.length - MAX_CANDIDATE_LINES} more`);
    }
  }
  if (unknownCount > 0) {
    lines.push(`(${unknownCount} pending operations with unknown outcome could not help either.)`);
  }
  if (best.blocking !== undefined) {
    lines.push(
      `Operation ${describe(best.blocking)} returned at t=${ops[best.blocking].ret} ` +
        'but cannot be linearized before then.',
    );
  }
  return lines.join('\n');
}
