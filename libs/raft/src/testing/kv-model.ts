/**
 * Sequential specification of the simulator's key-value store, for the
 * linearizability checker.
 *
 *  - get(key)            -> { value: current value, '' if absent }
 *  - put(key, value)     -> { value: '' }
 *  - append(key, value)  -> { value: the value after appending }
 *
 * An absent key and a key holding '' are indistinguishable (both read as ''),
 * so the state stores only non-empty values. Histories are partitioned by key.
 */
import type { Model, Operation, StepResult } from './linearizability';

export interface KvInput {
  kind: 'get' | 'put' | 'append';
  key: string;
  value?: string;
}

export interface KvOutput {
  value: string;
}

/** Value per key; absent means ''. Never mutated (steps copy it). */
export type KvState = ReadonlyMap<string, string>;

export type KvOperation = Operation<KvInput, KvOutput>;

function requireValue(input: KvInput): string {
  if (typeof input.value !== 'string') {
    throw new TypeError(`kvModel: ${input.kind}(${JSON.stringify(input.key)}) requires a string value`);
  }
  return input.value;
}

function withValue(state: KvState, key: string, value: string): KvState {
  const next = new Map(state);
  if (value === '') next.delete(key);
  else next.set(key, value);
  return next;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init(): KvState {
    return new Map<string, string>();
  },

  step(state: KvState, input: KvInput, output: KvOutput | undefined): StepResult<KvState> {
    const current = state.get(input.key) ?? '';
    switch (input.kind) {
      case 'get':
        return { ok: output === undefined || output.value === current, state };
      case 'put': {
        const value = requireValue(input);
        return { ok: output === undefined || output.value === '', state: withValue(state, input.key, value) };
      }
      case 'append': {
        const value = current + requireValue(input);
        return { ok: output === undefined || output.value === value, state: withValue(state, input.key, value) };
      }
      default: {
        const kind: never = input.kind;
        throw new TypeError(`kvModel: unknown operation kind ${JSON.stringify(kind)}`);
      }
    }
  },

  key(state: KvState): string {
    if (state.size === 0) return '';
    if (state.size === 1) {
      const [entry] = state;
      return JSON.stringify(entry);
    }
    return JSON.stringify([...state].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  },

  partition(ops: KvOperation[]): KvOperation[][] {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of ops) {
      let group = byKey.get(op.input.key);
      if (group === undefined) {
        group = [];
        byKey.set(op.input.key, group);
      }
      group.push(op);
    }
    return [...byKey.values()];
  },

  describe(input: KvInput, output: KvOutput | undefined): string {
    const args =
      input.kind === 'get' ? JSON.stringify(input.key) : `${JSON.stringify(input.key)}, ${JSON.stringify(input.value)}`;
    const result = output === undefined ? '?' : JSON.stringify(output.value);
    return `${input.kind}(${args}) -> ${result}`;
  },

  describeState(state: KvState): string {
    if (state.size === 0) return '{} (every key reads as "")';
    const entries = [...state].map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    return `{ ${entries.join(', ')} }`;
  },
};
