/**
 * Injection token of the replicated state machine: the app provides a `StateMachine` (from
 * `@raft-cqrs/raft`) under it, for example
 * `{ provide: RAFT_STATE_MACHINE, useExisting: KvStateMachine }`. The module resolves it at bootstrap
 * (ModuleRef, `strict: false`), so it may live in any module of the app.
 */
export const RAFT_STATE_MACHINE = 'RAFT_STATE_MACHINE';

/** The validated options with defaults filled in (`ResolvedRaftClusterOptions`). */
export const RAFT_CLUSTER_OPTIONS = 'RAFT_CLUSTER:OPTIONS';
