import { Entry, NodeId, SessionTable, SessionTableSnapshot } from '../core';
import type { KvInput } from './kv-model';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a client proposes: a key-value operation within its session (exactly-once on retries). */
export interface Command {
  client: string;
  seq: number;
  ackedBelow: number;
  op: KvInput;
}

/** A command's result, or null when it was not applied (an old session's retry, a non-command entry). */
export type CommandResult = string | null;

/** What a node's state machine may ask of the simulated node it runs in. */
export interface SimMachineHost {
  readonly id: NodeId;
  isLeader(): boolean;
  /** Virtual ms since the run began (the clock a leader stamps proposals with). */
  now(): number;
  /** Proposes `data` on this node once the current event is over, if it still leads then (fire and forget). */
  propose(data: Uint8Array): void;
  /** The state machine found replicas that diverged: the run fails. */
  violation(what: string): void;
  /** Adds one to the run's counter `name` (the stats' `machine`), to show what the seeds exercised. */
  count(name: string): void;
}

/**
 * The replicated state machine each simulated node applies committed entries to: the simulator's own
 * key-value model by default, or a production one behind an adapter (the CQRS state machine of
 * `@raft-cqrs/raft-cluster/testing`, which this package cannot import). A node gets a new one at
 * every boot, as a restarted process does, and fills it from the snapshot on its disk.
 */
export interface SimStateMachine {
  /**
   * Bytes per snapshot chunk the node sends: a few chunks per snapshot. Many more, and a transfer
   * outlasts the sender's next snapshot (taken every 10 or 40 entries), which drops it: the transfer
   * starts over, again and again.
   */
  readonly snapshotChunkBytes: number;
  /** The entry a leader proposes for a client's write (the same command always gives the same request). */
  encode(cmd: Command): Uint8Array;
  /**
   * Applies a committed Normal entry (the leader's no-ops and configuration changes never come here).
   * A promise must settle through microtasks only: the simulation awaits it before its next event.
   */
  apply(e: Entry): CommandResult | Promise<CommandResult>;
  /** The value of `key` as applied so far (what a read serves). */
  read(key: string): string;
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's (empty: the initial, empty state). */
  restore(data: Uint8Array): void;
  /** What every replica must hold alike at the same applied index (the checks compare it at snapshot points). */
  comparable(): string;
}

export type SimMachineFactory = (host: SimMachineHost) => SimStateMachine;

/** What the key-value model's snapshot holds: the pairs, sorted so replicas compare equal, and the sessions. */
interface KvSnapshot {
  kv: [string, string][];
  sessions: SessionTableSnapshot<string>;
}

function newSessionTable(): SessionTable<string> {
  return new SessionTable<string>({ maxSessions: 64, maxResponsesPerClient: 4 });
}

/** The simulator's own state machine: a key-value map whose retried writes the core's {@link SessionTable} de-duplicates. */
export class KvStateMachine implements SimStateMachine {
  readonly snapshotChunkBytes = 256;
  private kv = new Map<string, string>();
  private sessions = newSessionTable();

  encode(cmd: Command): Uint8Array {
    return encoder.encode(JSON.stringify(cmd));
  }

  apply(e: Entry): CommandResult {
    const cmd = JSON.parse(decoder.decode(e.data)) as Command;
    const seen = this.sessions.lookup(cmd.client, cmd.seq, cmd.ackedBelow);
    if (seen.kind === 'duplicate') return seen.response;
    if (seen.kind !== 'new') return null;
    let result = '';
    if (cmd.op.kind === 'put') {
      this.kv.set(cmd.op.key, cmd.op.value!);
    } else {
      result = (this.kv.get(cmd.op.key) ?? '') + cmd.op.value!;
      this.kv.set(cmd.op.key, result);
    }
    this.sessions.record(cmd.client, cmd.seq, result, e.index);
    return result;
  }

  read(key: string): string {
    return this.kv.get(key) ?? '';
  }

  snapshot(): Uint8Array {
    const snap: KvSnapshot = { kv: [...this.kv].sort(), sessions: this.sessions.toSnapshot() };
    return encoder.encode(JSON.stringify(snap));
  }

  restore(data: Uint8Array): void {
    this.kv = new Map();
    this.sessions = newSessionTable();
    if (data.length === 0) return;
    const snap = JSON.parse(decoder.decode(data)) as KvSnapshot;
    this.kv = new Map(snap.kv);
    this.sessions.restore(snap.sessions);
  }

  /** The pairs only, as before the state machine became a port (the seeds' runs stay what they were). */
  comparable(): string {
    return JSON.stringify([...this.kv].sort());
  }
}
