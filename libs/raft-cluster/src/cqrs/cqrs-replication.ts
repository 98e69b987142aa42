import type { StateMachine } from '@raft-cqrs/raft';
import type { ProcessorStatus } from '../processors/processor-runner';

/** A replica whose state digest differs from the leader's at the same index. */
export interface DivergenceReport {
  index: number;
  leaderDigest: string;
  localDigest: string;
  /** The stores whose state differs (`(sessions)`: the session table); empty when the leader sent no parts. */
  stores: string[];
}

/** How this replica's state digests compared with the leader's (`stateDigest` in `/cluster/status`). */
export interface StateDigestStatus {
  lastCheckedIndex: number;
  matches: number;
  mismatches: number;
  latest: { index: number; digest: string } | null;
  lastMismatch: (DivergenceReport & { at: string }) | null;
}

/** The answer to a peer's `POST /raft/command`, sent as JSON. */
export interface ForwardedCommandsAnswer {
  status: number;
  body: unknown;
}

/**
 * What the cluster node needs from the CQRS side of the module. The node is assembled before it knows
 * whether the app uses `@nestjs/cqrs`, and the CQRS side depends on the node (to propose, to learn who
 * leads): this port, provided under {@link RAFT_CQRS_REPLICATION}, lets the node reach back without the
 * two importing each other.
 */
export interface CqrsReplication {
  /** The state machine of the main group, or null when the app does not import CqrsModule. */
  readonly stateMachine: StateMachine | null;
  /** Serves `POST /raft/command` (already authenticated): commands a follower forwards to this leader. */
  receiveForwarded(body: Buffer): Promise<ForwardedCommandsAnswer>;
  /** Applies replicated commands in one log entry, all or nothing. */
  executeAll(commands: object[]): Promise<unknown[]>;
  /** Null without CqrsModule. */
  digestStatus(): StateDigestStatus | null;
  /** The app's event processors on this node (empty without any). */
  processorStatus(): ProcessorStatus[];
  /** Stops the event processors and writes their last checkpoints; called before the node hands leadership over. */
  stopProcessors(): Promise<void>;
}

/** Injection token of the module's {@link CqrsReplication}. */
export const RAFT_CQRS_REPLICATION = Symbol('RAFT_CQRS_REPLICATION');
