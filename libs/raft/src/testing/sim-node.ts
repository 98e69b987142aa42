import { ConfState, NodeId, RaftCore } from '../core';
import type { ReadyProcessor } from '../runtime/ready-processor';
import { SimDisk } from './sim-disk';
import type { CommandResult, SimStateMachine } from './sim-state-machine';

/** What a node answers a client. */
export type Reply = { ok: true; value: string } | { ok: false; leaderHint: NodeId | null };

/**
 * One simulated node: its disk, which survives crashes, and everything else, which does not: the
 * Raft core, the runtime's Ready processor driving it, the state machine (sim-state-machine.ts) and
 * the client requests waiting on it. `core` is null while the node is down. What runs the node is
 * the driver (sim-driver.ts); this is its state.
 */
export class SimNode {
  core: RaftCore | null = null;
  processor: ReadyProcessor<CommandResult> | null = null;
  /** Bumped at each boot and crash: events scheduled for an earlier incarnation find it changed and do nothing. */
  incarnation = 0;
  /** Replaced at each boot (a restarted process starts empty and restores its disk's snapshot). */
  machine: SimStateMachine | null = null;
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
}
