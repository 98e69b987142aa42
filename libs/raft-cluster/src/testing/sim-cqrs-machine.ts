import 'reflect-metadata';
import type { Entry } from '@raft-cqrs/raft';
import type { Command, CommandResult, SimMachineFactory, SimMachineHost, SimStateMachine } from '@raft-cqrs/raft/testing';
import { requireApplyContext } from '../cqrs/apply-context';
import { CqrsApplyHost, CqrsStateMachine, CqrsStateMachineOptions } from '../cqrs/cqrs-state-machine';
import { Replicated, ReplicatedState } from '../cqrs/decorators';
import { encodeCommandRequest, encodeEnvelope, stampRequest } from '../cqrs/envelope';
import { InMemoryStore, ReplicatedStateStore } from '../cqrs/replicated-store';

@Replicated('sim.kv.put')
class SimPut {
  key!: string;
  value!: string;
}

@Replicated('sim.kv.append')
class SimAppend {
  key!: string;
  value!: string;
}

@ReplicatedState('sim.kv')
class SimValues extends InMemoryStore<string> {}

/** Per key: how many writes were applied and by which request last (a second store, for per-store digests). */
@ReplicatedState('sim.writes')
class SimWrites extends InMemoryStore<{ count: number; by: string }> {}

/** 2025-01-01T00:00:00Z plus the virtual clock: the leader's timestamp in the entries. */
const SIM_EPOCH_MS = Date.UTC(2025, 0, 1);

/**
 * The simulated client commands bounded by `maxSessions`: the request ids of the four clients' writes
 * are forgotten after 256 more writes, which most seeds reach, while a client's retry lands within a
 * few dozen writes of its first attempt (see docs/simulation.md, "the CQRS state machine").
 */
const DEFAULTS: CqrsStateMachineOptions = { maxSessions: 256, digestInterval: 8 };

/**
 * The simulator's state machine port (`SimStateMachine` of `@raft-cqrs/raft/testing`) on the production
 * {@link CqrsStateMachine}: a client's put or append becomes a replicated command in a stamped envelope
 * whose request id (client and sequence number) is the same on every retry, applied by a handler that
 * writes two `@ReplicatedState` stores. Snapshots, restores, the session table and its bound, and the
 * leader's digests (proposed through the log, compared by every replica) are the module's own; a
 * divergence the digests find, or a warning, fails the run.
 */
class CqrsSimMachine implements SimStateMachine {
  /** Its snapshots are 20-30 KB (the key-value model's about 1 KB, in chunks of 256 bytes). */
  readonly snapshotChunkBytes = 4096;
  private readonly values = new SimValues();
  private readonly writes = new SimWrites();
  private readonly sm: CqrsStateMachine;
  /** Commands the handler ran (an apply that ran none answered from the session table, or was a digest). */
  private executed = 0;

  constructor(
    private readonly host: SimMachineHost,
    private readonly opts: CqrsStateMachineOptions,
  ) {
    const stores = new Map<string, ReplicatedStateStore>([
      ['sim.kv', this.values],
      ['sim.writes', this.writes],
    ]);
    this.sm = new CqrsStateMachine(this.applyHost(), stores, opts);
  }

  private applyHost(): CqrsApplyHost {
    const host = this.host;
    return {
      executeHandler: async (command) => this.execute(command),
      publishLocal: () => undefined,
      handlersReady: async () => undefined,
      isLeader: () => host.isLeader(),
      proposeDigest: (i, d, s) => {
        host.count('digestsProposed');
        host.propose(encodeEnvelope({ v: 1, k: 'digest', i, d, s }));
      },
      onDivergence: (r) => host.violation(`replica divergence: its state digest at ${r.index} differs from the leader's (${r.stores.join(', ') || 'no parts named'})`),
      warn: (message) => host.violation(`CqrsStateMachine warns: ${message}`),
    };
  }

  /** The command handler: the key-value model's put and append, on the stores. */
  private execute(command: object): string {
    const { requestId } = requireApplyContext();
    this.executed++;
    let result = '';
    if (command instanceof SimPut) {
      this.values.set(command.key, command.value);
    } else if (command instanceof SimAppend) {
      result = (this.values.get(command.key) ?? '') + command.value;
      this.values.set(command.key, result);
    } else {
      throw new Error(`no handler for ${command.constructor.name}`);
    }
    const key = (command as SimPut).key;
    this.writes.set(key, { count: (this.writes.get(key)?.count ?? 0) + 1, by: requestId ?? '' });
    return result;
  }

  encode(cmd: Command): Uint8Array {
    const name = cmd.op.kind === 'put' ? 'sim.kv.put' : 'sim.kv.append';
    const r = `${cmd.client}:${cmd.seq}`;
    const req = encodeCommandRequest(name, JSON.stringify({ key: cmd.op.key, value: cmd.op.value }), r);
    return stampRequest(req, SIM_EPOCH_MS + this.host.now(), r);
  }

  async apply(e: Entry): Promise<CommandResult> {
    const executed = this.executed;
    const matches = this.sm.digestStatus().matches;
    const result = await this.sm.apply(e, { index: e.index, term: e.term });
    // What the seeds exercised, per replica: retries de-duplicated, full session tables, digests that matched.
    if (this.executed === executed && typeof result === 'string') this.host.count('duplicatesAnswered');
    if (this.executed !== executed && this.sm.sessionCount === this.opts.maxSessions) this.host.count('sessionEvictions');
    if (this.sm.digestStatus().matches !== matches) this.host.count('digestMatches');
    return typeof result === 'string' ? result : null;
  }

  read(key: string): string {
    return this.values.get(key) ?? '';
  }

  snapshot(): Uint8Array {
    return this.sm.snapshot();
  }

  restore(data: Uint8Array): void {
    this.sm.restore(data);
  }

  /** The whole snapshot document: stores, session table and digests alike on every replica at the same index. */
  comparable(): string {
    return new TextDecoder().decode(this.sm.snapshot());
  }
}

/** Each simulated node applies through its own {@link CqrsStateMachine} (`options` override the defaults). */
export function cqrsSimMachine(options: Partial<CqrsStateMachineOptions> = {}): SimMachineFactory {
  const opts = { ...DEFAULTS, ...options };
  return (host) => new CqrsSimMachine(host, opts);
}
