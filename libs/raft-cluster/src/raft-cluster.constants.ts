/**
 * Injection token of the replicated state machine: the app provides a `StateMachine` (from
 * `@raft-cqrs/raft`) under it, for example
 * `{ provide: RAFT_STATE_MACHINE, useExisting: KvStateMachine }`. The module resolves it at bootstrap
 * (ModuleRef, `strict: false`), so it may live in any module of the app.
 */
export const RAFT_STATE_MACHINE = 'RAFT_STATE_MACHINE';

/** The validated options with defaults filled in (`ResolvedRaftClusterOptions`). */
export const RAFT_CLUSTER_OPTIONS = 'RAFT_CLUSTER:OPTIONS';

/** Metadata key of a replicated command's stable name. */
export const REPLICATED_COMMAND = 'raft-cqrs:replicated-command';
/** Metadata key of a broadcast event's stable name. */
export const REPLICATED_EVENT = 'raft-cqrs:replicated-event';
/** Metadata key of a query class's default consistency. */
export const QUERY_CONSISTENCY = 'raft-cqrs:query-consistency';
/** Metadata key of a leader-only route's options. */
export const LEADER_ONLY = 'raft-cqrs:leader-only';
/** Metadata key of a replicated state store's name. */
export const REPLICATED_STATE = 'raft-cqrs:replicated-state';
/** Metadata key of an event processor's name and options. */
export const EVENT_PROCESSOR = 'raft-cqrs:event-processor';
/**
 * Injection token of the `CheckpointStore` of `every-node` event processors; the default keeps
 * each checkpoint in a file under `dataDir`.
 */
export const RAFT_CHECKPOINT_STORE = 'RAFT_CLUSTER:CHECKPOINT_STORE';
