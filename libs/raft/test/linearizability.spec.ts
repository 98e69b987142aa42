import {
  checkLinearizability,
  MalformedHistoryError,
  type Model,
  type Operation,
} from '../src/testing/linearizability';
import { kvModel, type KvInput, type KvOperation, type KvOutput } from '../src/testing/kv-model';

// ---------------------------------------------------------------------------
// History builders

const NEVER = Infinity;

function get(clientId: number, key: string, value: string, call: number, ret: number): KvOperation {
  return { clientId, input: { kind: 'get', key }, output: { value }, call, ret };
}

function put(clientId: number, key: string, value: string, call: number, ret: number): KvOperation {
  return {
    clientId,
    input: { kind: 'put', key, value },
    output: ret === NEVER ? undefined : { value: '' },
    call,
    ret,
  };
}

/** `result` is the observed value after appending; omit it for an unknown outcome (ret = Infinity). */
function append(
  clientId: number,
  key: string,
  value: string,
  result: string | undefined,
  call: number,
  ret: number,
): KvOperation {
  return {
    clientId,
    input: { kind: 'append', key, value },
    output: result === undefined ? undefined : { value: result },
    call,
    ret,
  };
}

function verdictOf(history: KvOperation[]): string {
  return checkLinearizability(kvModel, history).verdict;
}

// ---------------------------------------------------------------------------
// A single-register model (no partitioning), to show the checker is generic.

type RegInput = { op: 'read' } | { op: 'write'; value: number };
/** read -> the value read; write -> null */
type RegOutput = number | null;

const registerModel: Model<number, RegInput, RegOutput> = {
  init: () => 0,
  step: (state, input, output) =>
    input.op === 'write'
      ? { ok: output === undefined || output === null, state: input.value }
      : { ok: output === undefined || output === state, state },
  key: (state) => state,
  describe: (input, output) =>
    input.op === 'write' ? `write(${input.value})` : `read() -> ${output === undefined ? '?' : String(output)}`,
};

function rRead(clientId: number, value: number, call: number, ret: number): Operation<RegInput, RegOutput> {
  return { clientId, input: { op: 'read' }, output: value, call, ret };
}

function rWrite(clientId: number, value: number, call: number, ret: number): Operation<RegInput, RegOutput> {
  return { clientId, input: { op: 'write', value }, output: ret === NEVER ? undefined : null, call, ret };
}

// ---------------------------------------------------------------------------
// Seeded PRNG and random history generation

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

interface GenOptions {
  clients: number;
  opsPerClient: number;
  keys: string[];
  /** Probability that an op's outcome is unknown (never returns). */
  unknownProb: number;
  maxGap: number;
  maxDuration: number;
}

/**
 * Random concurrent KV history that is linearizable by construction: each
 * client issues ops sequentially with random (integer) intervals; every op
 * gets a linearization point strictly inside its interval (or exactly at it
 * for zero-length ops), outputs are computed by applying the ops to the
 * sequential model in linearization-point order. Unknown-outcome ops take
 * effect at a random point after their call, or never.
 */
function generateHistory(rand: () => number, o: GenOptions): KvOperation[] {
  const letters = 'abcdefghij';
  const ops: { op: KvOperation; point: number | undefined }[] = [];
  for (let c = 0; c < o.clients; c++) {
    let t = randInt(rand, 0, o.maxGap);
    for (let k = 0; k < o.opsPerClient; k++) {
      const call = t + randInt(rand, 0, o.maxGap);
      const duration = randInt(rand, 0, o.maxDuration);
      const key = o.keys[randInt(rand, 0, o.keys.length - 1)];
      const r = rand();
      const input: KvInput =
        r < 0.4
          ? { kind: 'get', key }
          : r < 0.6
            ? { kind: 'put', key, value: letters[randInt(rand, 0, letters.length - 1)] }
            : { kind: 'append', key, value: letters[randInt(rand, 0, letters.length - 1)] };
      let point: number | undefined;
      let ret: number;
      if (rand() < o.unknownProb) {
        ret = NEVER;
        point = rand() < 0.5 ? undefined : call + (0.001 + rand()) * 3 * (o.maxDuration + 1);
      } else {
        ret = call + duration;
        point = duration === 0 ? call : call + (0.01 + 0.98 * rand()) * duration;
      }
      ops.push({ op: { clientId: c, input, output: undefined, call, ret }, point });
      t = call + duration; // a client that timed out gives up and moves on
    }
  }
  const effective = ops.filter((x) => x.point !== undefined);
  effective.sort((a, b) => (a.point as number) - (b.point as number));
  let state = kvModel.init();
  for (const { op } of effective) {
    const current = state.get(op.input.key) ?? '';
    const next = kvModel.step(state, op.input, undefined).state;
    if (op.ret !== NEVER) {
      op.output = { value: op.input.kind === 'get' ? current : op.input.kind === 'put' ? '' : (next.get(op.input.key) ?? '') };
    }
    state = next;
  }
  return ops.map((x) => x.op);
}

/**
 * Exhaustive reference checker (no memo, no event list): tries every order
 * that respects real-time precedence, with the same semantics as the checker
 * (ret === call counts as "before", except between two zero-length ops;
 * unknown-outcome ops may be applied or skipped).
 */
function bruteForce<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): boolean {
  const precedes = (a: Operation<I, O>, b: Operation<I, O>): boolean =>
    a.ret < b.call || (a.ret === b.call && !(a.call === a.ret && b.call === b.ret));
  const placed = ops.map(() => false);
  const rec = (state: S): boolean => {
    if (ops.every((op, i) => placed[i] || op.ret === NEVER)) return true;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      if (ops.some((other, j) => j !== i && !placed[j] && precedes(other, ops[i]))) continue;
      const r = model.step(state, ops[i].input, ops[i].output);
      if (!r.ok) continue;
      placed[i] = true;
      const found = rec(r.state);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return rec(model.init());
}

// ---------------------------------------------------------------------------

describe('checkLinearizability with the KV model: linearizable histories', () => {
  it('accepts an empty history', () => {
    expect(checkLinearizability(kvModel, [])).toEqual({ verdict: 'ok' });
  });

  it('accepts a sequential history', () => {
    expect(
      verdictOf([
        get(1, 'x', '', 0, 1),
        put(1, 'x', 'a', 2, 3),
        get(2, 'x', 'a', 4, 5),
        append(2, 'x', 'b', 'ab', 6, 7),
        get(1, 'x', 'ab', 8, 9),
        put(3, 'x', 'c', 10, 11),
        append(3, 'x', 'd', 'cd', 12, 13),
        get(1, 'x', 'cd', 14, 15),
      ]),
    ).toBe('ok');
  });

  it('accepts overlapping concurrent writes read in either order', () => {
    const writes = [put(1, 'x', 'a', 0, 10), put(2, 'x', 'b', 0, 10)];
    expect(verdictOf([...writes, get(3, 'x', 'a', 11, 12)])).toBe('ok');
    expect(verdictOf([...writes, get(3, 'x', 'b', 11, 12)])).toBe('ok');
    // reads concurrent with the writes can see nothing, one, or the other
    expect(verdictOf([...writes, get(3, 'x', '', 1, 2), get(3, 'x', 'b', 3, 4), get(3, 'x', 'a', 5, 6)])).toBe('ok');
  });

  it('accepts concurrent appends observed in the order they took effect', () => {
    expect(
      verdictOf([
        append(1, 'x', 'a', 'ba', 0, 10),
        append(2, 'x', 'b', 'b', 0, 10),
        get(3, 'x', 'b', 1, 2),
        get(3, 'x', 'ba', 11, 12),
      ]),
    ).toBe('ok');
  });

  it('accepts an unknown-outcome write that took effect', () => {
    expect(
      verdictOf([put(1, 'x', 'a', 0, 1), put(2, 'x', 'b', 2, NEVER), get(3, 'x', 'b', 5, 6), get(3, 'x', 'b', 7, 8)]),
    ).toBe('ok');
  });

  it('accepts an unknown-outcome write that never took effect', () => {
    expect(
      verdictOf([put(1, 'x', 'a', 0, 1), put(2, 'x', 'b', 2, NEVER), get(3, 'x', 'a', 5, 6), get(3, 'x', 'a', 100, 101)]),
    ).toBe('ok');
  });

  it('accepts an unknown-outcome write that took effect long after its client gave up', () => {
    expect(
      verdictOf([
        append(1, 'x', 'a', undefined, 0, NEVER),
        get(2, 'x', '', 1, 2),
        get(2, 'x', '', 50, 51),
        append(3, 'x', 'b', 'b', 60, 61),
        get(2, 'x', 'ba', 70, 71),
      ]),
    ).toBe('ok');
  });

  it('accepts a completed op whose output was not recorded (finite ret, output undefined)', () => {
    const h: KvOperation[] = [
      { clientId: 1, input: { kind: 'append', key: 'x', value: 'a' }, output: undefined, call: 0, ret: 1 },
      get(2, 'x', 'a', 2, 3),
    ];
    expect(verdictOf(h)).toBe('ok');
  });

  it('treats a return and a call at the same timestamp as ordered (not concurrent)', () => {
    // the put returned at t=5; a get invoked at t=5 must see it ...
    expect(verdictOf([put(1, 'x', 'a', 0, 5), get(2, 'x', 'a', 5, 6)])).toBe('ok');
    expect(verdictOf([put(1, 'x', 'a', 0, 5), get(2, 'x', '', 5, 6)])).toBe('illegal');
    // ... while one invoked at t=4 is concurrent with it
    expect(verdictOf([put(1, 'x', 'a', 0, 5), get(2, 'x', '', 4, 6)])).toBe('ok');
  });

  it('treats zero-length ops at the same instant as concurrent with each other', () => {
    expect(verdictOf([put(1, 'x', 'a', 3, 3), get(2, 'x', '', 3, 3)])).toBe('ok');
    expect(verdictOf([get(2, 'x', 'a', 3, 3), put(1, 'x', 'a', 3, 3)])).toBe('ok');
    // but still after an op that returned at that instant
    expect(verdictOf([put(1, 'x', 'a', 0, 3), get(2, 'x', '', 3, 3)])).toBe('illegal');
  });

  it('accepts independent keys interleaved in time', () => {
    expect(
      verdictOf([
        put(1, 'x', 'a', 0, 10),
        put(2, 'y', 'b', 1, 2),
        get(3, 'y', 'b', 3, 4),
        get(3, 'x', 'a', 11, 12),
        get(2, 'z', '', 0, 20),
      ]),
    ).toBe('ok');
  });
});

describe('checkLinearizability with the KV model: non-linearizable histories', () => {
  it('rejects a stale read after a completed write', () => {
    const res = checkLinearizability(kvModel, [put(1, 'x', 'a', 0, 1), put(1, 'x', 'b', 2, 3), get(2, 'x', 'a', 4, 5)]);
    expect(res.verdict).toBe('illegal');
    expect(res.details).toContain('get("x") -> "a"');
  });

  it('rejects a read of a value that was never written', () => {
    const res = checkLinearizability(kvModel, [put(1, 'x', 'a', 0, 10), get(2, 'x', 'z', 1, 2)]);
    expect(res.verdict).toBe('illegal');
    expect(res.details).toContain('Longest linearizable prefix found: 1 operation ');
    expect(res.details).toContain('#1 client 2: get("x") -> "z" [call 1, ret 2]  (illegal here)');
  });

  it('rejects two reads observing concurrent writes in opposite orders (new-old inversion)', () => {
    // w(a) and w(b) overlap; reader 3 sees a then b, reader 4 (strictly after) sees b then a
    expect(
      verdictOf([
        put(1, 'x', 'a', 0, 20),
        put(2, 'x', 'b', 0, 20),
        get(3, 'x', 'a', 1, 2),
        get(3, 'x', 'b', 3, 4),
        get(4, 'x', 'b', 5, 6),
        get(4, 'x', 'a', 7, 8),
      ]),
    ).toBe('illegal');
    // new value seen, then an old one by a later read, with a single write in flight
    expect(
      verdictOf([put(1, 'x', 'a', 0, 1), put(2, 'x', 'b', 2, 20), get(3, 'x', 'b', 3, 4), get(4, 'x', 'a', 5, 6)]),
    ).toBe('illegal');
  });

  it('rejects concurrent readers disagreeing on the order of appends', () => {
    expect(
      verdictOf([
        append(1, 'x', 'a', undefined, 0, NEVER),
        append(2, 'x', 'b', undefined, 0, NEVER),
        get(3, 'x', 'ab', 5, 6),
        get(4, 'x', 'ba', 5, 6),
      ]),
    ).toBe('illegal');
  });

  it('rejects an append applied twice', () => {
    expect(verdictOf([append(1, 'x', 'x', 'x', 0, 1), get(2, 'x', 'xx', 2, 3)])).toBe('illegal');
    // even when the append's outcome is unknown (it may apply at most once)
    expect(verdictOf([append(1, 'x', 'x', undefined, 0, NEVER), get(2, 'x', 'xx', 2, 3)])).toBe('illegal');
  });

  it('rejects a read, finished before the write was invoked, that sees its value', () => {
    expect(verdictOf([get(2, 'x', 'a', 0, 1), put(1, 'x', 'a', 2, 3)])).toBe('illegal');
    expect(verdictOf([get(2, 'x', 'a', 0, 1), put(1, 'x', 'a', 2, NEVER)])).toBe('illegal');
  });

  it('rejects a wrong append result and a put that returns a value', () => {
    expect(verdictOf([put(1, 'x', 'a', 0, 1), append(1, 'x', 'b', 'b', 2, 3)])).toBe('illegal');
    const badPut: KvOperation = { clientId: 1, input: { kind: 'put', key: 'x', value: 'a' }, output: { value: 'a' }, call: 0, ret: 1 };
    expect(verdictOf([badPut])).toBe('illegal');
  });

  it('explains the failure: longest prefix, state, unplaceable ops', () => {
    const res = checkLinearizability(kvModel, [
      put(1, 'x', 'a', 0, 1),
      append(1, 'x', 'b', 'ab', 2, 3),
      get(2, 'x', 'a', 4, 5),
    ]);
    expect(res.verdict).toBe('illegal');
    expect(res.partition).toBe(0);
    const d = res.details ?? '';
    expect(d).toContain('Partition 1 of 1');
    expect(d).toContain('Longest linearizable prefix found: 2 operations ');
    expect(d).toContain('1. #0 client 1: put("x", "a") -> ""');
    expect(d).toContain('2. #1 client 1: append("x", "b") -> "ab"');
    expect(d).toContain('State after that prefix: { "x": "ab" }');
    expect(d).toContain('#2 client 2: get("x") -> "a" [call 4, ret 5]  (illegal here)');
  });
});

describe('checkLinearizability with a register model', () => {
  it('accepts linearizable register histories', () => {
    expect(checkLinearizability(registerModel, [rWrite(1, 1, 0, 10), rRead(2, 0, 1, 2), rRead(2, 1, 3, 4)]).verdict).toBe('ok');
    expect(
      checkLinearizability(registerModel, [rWrite(1, 1, 0, 10), rWrite(2, 2, 0, 10), rRead(3, 2, 11, 12), rRead(4, 2, 13, 14)])
        .verdict,
    ).toBe('ok');
    expect(checkLinearizability(registerModel, [rWrite(1, 7, 0, NEVER), rRead(2, 7, 100, 101)]).verdict).toBe('ok');
    expect(checkLinearizability(registerModel, [rWrite(1, 7, 0, NEVER), rRead(2, 0, 100, 101)]).verdict).toBe('ok');
  });

  it('rejects non-linearizable register histories', () => {
    // read after write completed sees the old value
    expect(checkLinearizability(registerModel, [rWrite(1, 1, 0, 1), rRead(2, 0, 2, 3)]).verdict).toBe('illegal');
    // new-old inversion across two sequential reads
    const res = checkLinearizability(registerModel, [rWrite(1, 1, 0, 10), rRead(2, 1, 1, 2), rRead(3, 0, 3, 4)]);
    expect(res.verdict).toBe('illegal');
    expect(res.details).toContain('read() -> 0');
    // unknown write seen, then unseen
    expect(
      checkLinearizability(registerModel, [rWrite(1, 5, 0, NEVER), rRead(2, 5, 1, 2), rRead(2, 0, 3, 4)]).verdict,
    ).toBe('illegal');
  });

  it('uses JSON for explanations when the model has no describe()', () => {
    const bare: Model<number, RegInput, RegOutput> = { init: registerModel.init, step: registerModel.step, key: registerModel.key };
    const res = checkLinearizability(bare, [rWrite(1, 1, 0, 1), rRead(2, 0, 2, 3)]);
    expect(res.verdict).toBe('illegal');
    expect(res.details).toContain('{"op":"read"} -> 0');
  });
});

describe('partitioned histories', () => {
  it('reports the bad partition when only one key is bad', () => {
    const history = [
      put(1, 'a', '1', 0, 2),
      put(2, 'b', '1', 0, 2),
      put(3, 'c', '1', 0, 2),
      get(1, 'a', '1', 3, 4),
      get(2, 'b', '', 3, 4), // stale: put b=1 completed at t=2
      get(3, 'c', '1', 3, 4),
      append(1, 'a', '2', '12', 5, 6),
      append(3, 'c', '2', '12', 5, 6),
    ];
    const res = checkLinearizability(kvModel, history);
    expect(res.verdict).toBe('illegal');
    expect(res.partition).toBe(1);
    expect(res.details).toContain('Partition 2 of 3 (2 operations)');
    expect(res.details).toContain('#4 client 2: get("b") -> ""');
    // with the bad read fixed, everything is fine
    history[4] = get(2, 'b', '1', 3, 4);
    expect(verdictOf(history)).toBe('ok');
  });

  it('rejects a partition function that drops operations', () => {
    const lossy: Model<number, RegInput, RegOutput> = { ...registerModel, partition: (ops) => [ops.slice(1)] };
    expect(() => checkLinearizability(lossy, [rWrite(1, 1, 0, 1), rRead(2, 1, 2, 3)])).toThrow(/exactly once/);
  });
});

describe('input validation', () => {
  it('throws on call > ret', () => {
    expect(() => verdictOf([put(1, 'x', 'a', 5, 4)])).toThrow(MalformedHistoryError);
    expect(() => verdictOf([put(1, 'x', 'a', 5, 4)])).toThrow(/operation 0: returns before it is invoked \(call 5 > ret 4\)/);
  });

  it('throws on non-numeric or non-finite times', () => {
    expect(() => verdictOf([put(1, 'x', 'a', NaN, 4)])).toThrow(/operation 0: call time must be a finite number/);
    expect(() => verdictOf([get(1, 'x', '', 0, 1), put(1, 'x', 'a', Infinity, Infinity)])).toThrow(
      /operation 1: call time must be a finite number/,
    );
    expect(() => verdictOf([put(1, 'x', 'a', 0, NaN)])).toThrow(/operation 0: return time must be/);
    const bad = { clientId: 1, input: { kind: 'get', key: 'x' }, output: { value: '' }, call: '0', ret: 1 } as unknown as KvOperation;
    expect(() => verdictOf([bad])).toThrow(/call time must be a finite number/);
  });

  it('throws on an unknown-outcome op with an output, a missing clientId, or a non-array', () => {
    expect(() => verdictOf([{ ...get(1, 'x', '', 0, 1), ret: NEVER }])).toThrow(/must have output undefined/);
    const noClient = { input: { kind: 'get', key: 'x' }, output: { value: '' }, call: 0, ret: 1 } as unknown as KvOperation;
    expect(() => verdictOf([noClient])).toThrow(/clientId must be a finite number/);
    expect(() => verdictOf([null as unknown as KvOperation])).toThrow(/operation 0: must be an object/);
    expect(() => checkLinearizability(kvModel, {} as unknown as KvOperation[])).toThrow(/history must be an array/);
  });

  it('throws on a bad timeout or state limit', () => {
    expect(() => checkLinearizability(kvModel, [], { timeoutMs: -1 })).toThrow(RangeError);
    expect(() => checkLinearizability(kvModel, [], { maxStates: 0 })).toThrow(RangeError);
  });
});

describe('timeouts', () => {
  /**
   * Many concurrent unknown-outcome appends and an impossible read: the
   * search must try (nearly) every order of every subset before giving up.
   */
  function hardHistory(): KvOperation[] {
    const history: KvOperation[] = [];
    for (let i = 0; i < 24; i++) history.push(append(i, 'x', String.fromCharCode(97 + i), undefined, 0, NEVER));
    history.push(get(99, 'x', 'impossible', 1, 2));
    return history;
  }

  it('returns timeout when the search cannot finish in time', () => {
    const res = checkLinearizability(kvModel, hardHistory(), { timeoutMs: 50 });
    expect(res.verdict).toBe('timeout');
    expect(res.partition).toBe(0);
    expect(res.details).toMatch(/could not be decided within 50 ms/);
  });

  it('returns timeout when the memo reaches maxStates', () => {
    const res = checkLinearizability(kvModel, hardHistory(), { maxStates: 5000 });
    expect(res.verdict).toBe('timeout');
    expect(res.details).toMatch(/limit of 5000 explored search states \(maxStates\)/);
  });

  it('still reports illegal when another partition times out', () => {
    const history = hardHistory();
    history.push(put(1, 'y', 'a', 0, 1), get(2, 'y', '', 2, 3));
    const res = checkLinearizability(kvModel, history, { timeoutMs: 20 });
    expect(res.verdict).toBe('illegal');
    expect(res.partition).toBe(1);
  });
});

describe('property tests', () => {
  const SEEDS = 300;

  it(`accepts ${SEEDS} random histories generated from a real linearization`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const rand = mulberry32(seed);
      const history = generateHistory(rand, {
        clients: randInt(rand, 1, 5),
        opsPerClient: randInt(rand, 1, 12),
        keys: ['k1', 'k2', 'k3'].slice(0, randInt(rand, 1, 3)),
        unknownProb: seed % 3 === 0 ? 0.15 : 0,
        maxGap: 3,
        maxDuration: 8,
      });
      const res = checkLinearizability(kvModel, history);
      if (res.verdict !== 'ok') throw new Error(`seed ${seed}: expected ok, got ${res.verdict}\n${res.details ?? ''}`);
    }
  });

  it(`rejects those histories after one output is mutated to an impossible value`, () => {
    let mutated = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const rand = mulberry32(seed);
      const history = generateHistory(rand, {
        clients: randInt(rand, 1, 5),
        opsPerClient: randInt(rand, 1, 12),
        keys: ['k1', 'k2', 'k3'].slice(0, randInt(rand, 1, 3)),
        unknownProb: seed % 3 === 0 ? 0.15 : 0,
        maxGap: 3,
        maxDuration: 8,
      });
      const known = history.filter((op) => op.output !== undefined);
      if (known.length === 0) continue;
      // The generator only writes lowercase letters, so no state ever holds
      // 'X', and no put ever returns it: the mutated op can never be placed.
      const victim = known[randInt(rand, 0, known.length - 1)];
      victim.output = { value: (victim.output as KvOutput).value + 'X' };
      const res = checkLinearizability(kvModel, history);
      if (res.verdict !== 'illegal') throw new Error(`seed ${seed}: expected illegal, got ${res.verdict}`);
      expect(res.details).toContain('X"');
      mutated++;
    }
    expect(mutated).toBeGreaterThan(SEEDS * 0.9);
  });

  it('agrees with an exhaustive reference search on small random histories (some not linearizable)', () => {
    let ok = 0;
    let illegal = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const rand = mulberry32(10_000 + seed);
      const history = generateHistory(rand, {
        clients: randInt(rand, 2, 4),
        opsPerClient: randInt(rand, 1, 2),
        keys: ['k'],
        unknownProb: 0.2,
        maxGap: 2,
        maxDuration: 4,
      });
      // Perturb some outputs into other plausible values, so that some
      // histories stay linearizable and some do not.
      const seen = [''];
      for (const op of history) if (op.output !== undefined) seen.push(op.output.value);
      for (const op of history) {
        if (op.output !== undefined && op.input.kind !== 'put' && rand() < 0.25) {
          op.output = { value: seen[randInt(rand, 0, seen.length - 1)] };
        }
      }
      const expected = bruteForce(kvModel, history) ? 'ok' : 'illegal';
      const res = checkLinearizability(kvModel, history);
      if (res.verdict !== expected) {
        throw new Error(`seed ${seed}: expected ${expected}, got ${res.verdict}\n${JSON.stringify(history)}`);
      }
      if (expected === 'ok') ok++;
      else illegal++;
    }
    expect(ok).toBeGreaterThan(50);
    expect(illegal).toBeGreaterThan(50);
  });

  it('agrees with the exhaustive reference search on random register histories', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = mulberry32(20_000 + seed);
      const history: Operation<RegInput, RegOutput>[] = [];
      const n = randInt(rand, 1, 7);
      for (let i = 0; i < n; i++) {
        const call = randInt(rand, 0, 6);
        const ret = rand() < 0.15 ? NEVER : call + randInt(rand, 0, 4);
        if (rand() < 0.5) history.push(rWrite(i, randInt(rand, 1, 3), call, ret));
        else if (ret !== NEVER) history.push(rRead(i, randInt(rand, 0, 3), call, ret));
      }
      const expected = bruteForce(registerModel, history) ? 'ok' : 'illegal';
      expect(checkLinearizability(registerModel, history).verdict).toBe(expected);
    }
  });
});

describe('performance', () => {
  const perfOptions: GenOptions = {
    clients: 5, // concurrency 5 per key
    opsPerClient: 60, // 300 ops per key
    keys: ['k'],
    unknownProb: 0.02,
    maxGap: 2,
    maxDuration: 10,
  };

  function perfHistory(seed: number): KvOperation[] {
    const rand = mulberry32(seed);
    const history: KvOperation[] = [];
    // three keys, each with its own 5 clients, so ~300 ops per key
    for (const key of ['a', 'b', 'c']) {
      history.push(...generateHistory(rand, { ...perfOptions, keys: [key] }));
    }
    return history;
  }

  it('checks ~300 ops per key with concurrency 5', () => {
    for (const seed of [1, 2, 3]) {
      const history = perfHistory(seed);
      expect(history.length).toBe(900);
      expect(checkLinearizability(kvModel, history, { timeoutMs: 60_000 }).verdict).toBe('ok');
    }
  });

  it('rejects a large history with one bad read near the end', () => {
    const history = perfHistory(4);
    const gets = history.filter((op) => op.input.kind === 'get' && op.input.key === 'b' && op.output !== undefined);
    const victim = gets[gets.length - 3];
    victim.output = { value: (victim.output as KvOutput).value + 'X' };
    expect(checkLinearizability(kvModel, history, { timeoutMs: 60_000 }).verdict).toBe('illegal');
  });
});
