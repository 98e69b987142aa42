import { ConfState, Entry, EntryType, NodeId, RaftCore, SessionTable, SessionTableSnapshot } from '../core';
import type { ReadyProcessor } from '../runtime/ready-processor';
import { KvInput } from './kv-model';
import { SimDisk } from './sim-disk';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a client proposes: a key-value operation within its session (exactly-once on retries). */
export interface Command {
  client: string;
  seq: number;
  ackedBelow: number;
  op: KvInput;
}

/** What a node answers a client. */
export type Reply = { ok: true; value: string } | { ok: false; leaderHint: NodeId | null };

/** A command's result, or null when it was not applied (an old session's retry, a non-command entry). */
export type CommandResult = string | null;

/** What the state machine's snapshot holds: the key-value pairs, sorted so replicas compare equal, and the sessions. */
export interface StateMachineSnapshot {
  kv: [string, string][];
  sessions: SessionTableSnapshot<string>;
}

export function encodeCommand(cmd: Command): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function encodeSnapshot(snap: StateMachineSnapshot): Uint8Array {
  return encoder.encode(JSON.stringify(snap));
}

function newSessionTable(): SessionTable<string> {
  return new SessionTable<string>({ maxSessions: 64, maxResponsesPerClient: 4 });
}

/**
 * One simulated node: its disk, which survives crashes, and everything else, which does not: the
 * Raft core, the runtime's Ready processor driving it, the key-value state machine and the client
 * requests waiting on it. `core` is null while the node is down. What runs the node is the driver
 * (sim-driver.ts); this is its state and its state machine.
 */
export class SimNode {
  core: RaftCore | null = null;
  processor: ReadyProcessor<CommandResult> | null = null;
  /** Bumped at each boot and crash: events scheduled for an earlier incarnation find it changed and do nothing. */
  incarnation = 0;
  kv = new Map<string, string>();
  sessions = newSessionTable();
  /** Proposals made here, by index, waiting for their apply. */
  pendingWrites = new Map<number, { term: number; reply: (r: Reply) => void }>();
  pendingReads = new Map<number, { key: string; reply: (r: Reply) => void }>();
  /** The snapshot being received from the leader, chunk by chunk, until `persist` takes it. */
  incoming: Uint8Array | null = null;
  nextReadId = 1;
  /** Paused (as by SIGSTOP) until this virtual time: nothing it receives is processed before then. */
  pausedUntil = 0;
  /** Virtual ms between two ticks of this node's clock (a fault slows it for a while). */
  tickMs = 10;
  /** Commit index up to which the invariant checker has recorded this node's committed entries. */
  checkedCommit = 0;
  /** Commit index up to which the check that a leader's commits are durable on a quorum has looked. */
  leaderCheckedCommit = 0;
  readonly disk: SimDisk;

  constructor(
    readonly id: NodeId,
    conf: ConfState,
  ) {
    this.disk = new SimDisk(conf);
  }

  get alive(): boolean {
    return this.core !== null;
  }

  /** What the state machine has applied. */
  get applied(): number {
    return this.processor?.applied ?? 0;
  }

  // ---------------------------------------------------------------- the key-value state machine

  snapshotState(): StateMachineSnapshot {
    return { kv: [...this.kv].sort(), sessions: this.sessions.toSnapshot() };
  }

  /** Replaces the state machine with the snapshot `data` (empty: the initial, empty state). */
  restoreState(data: Uint8Array): void {
    this.kv = new Map();
    this.sessions = newSessionTable();
    if (data.length === 0) return;
    const snap = JSON.parse(decoder.decode(data)) as StateMachineSnapshot;
    this.kv = new Map(snap.kv);
    this.sessions.restore(snap.sessions);
  }

  /** Applies a committed entry; a retried command gets the result it had the first time. */
  applyCommand(e: Entry): CommandResult {
    let result: CommandResult = null;
    if (e.type === EntryType.Normal) {
      const cmd = JSON.parse(decoder.decode(e.data)) as Command;
      const seen = this.sessions.lookup(cmd.client, cmd.seq, cmd.ackedBelow);
      if (seen.kind === 'duplicate') result = seen.response;
      else if (seen.kind === 'new') {
        const cur = this.kv.get(cmd.op.key) ?? '';
        if (cmd.op.kind === 'put') {
          this.kv.set(cmd.op.key, cmd.op.value!);
          result = '';
        } else {
          result = cur + cmd.op.value!;
          this.kv.set(cmd.op.key, result);
        }
        this.sessions.record(cmd.client, cmd.seq, result, e.index);
      }
    }
    return result;
  }
}
