/**
 * `@raft-cqrs/raft-cluster`: what an app writes against. Unit-test helpers live in
 * `@raft-cqrs/raft-cluster/testing`, extra Raft groups in `@raft-cqrs/raft-cluster/groups`; everything
 * else under src/ (the CQRS bridge, the state machine, interceptors, headers, codecs) is internal and
 * may change in any release. The package README documents the module, its options and its endpoints.
 */
export { RaftClusterModule } from './raft-cluster.module';
export { RAFT_CLUSTER_MODULE_OPTIONS } from './raft-cluster.module-definition';
export type { RaftClusterModuleAsyncOptions, RaftClusterModuleForRootOptions } from './raft-cluster.module-definition';
export { RAFT_CHECKPOINT_STORE, RAFT_CLUSTER_OPTIONS, RAFT_STATE_MACHINE } from './raft-cluster.constants';
export { RaftClusterOptionsError } from './options/options-error';
export { validateRaftClusterOptions } from './options/validate-options';
export { normaliseMemberUrl, MEMBER_ID_PATTERN } from './options/members';
export type { RaftClusterMember } from './options/members';
export type { RaftClusterModuleOptions, ResolvedRaftClusterOptions } from './raft-cluster.options';
export { raftEnv, httpPlatform, EnvError } from './options-from-env';
export type { RaftEnv, RaftEnvOptions } from './options-from-env';
export { createRaftApp, createHttpAdapter, DEFAULT_BODY_LIMIT_BYTES } from './http/create-raft-app';
export type { CreateRaftAppOptions, HttpAdapterOptions } from './http/create-raft-app';
export { rawRequest, rawResponse, takeOverResponse, HTTP_PLATFORMS } from './http/http-platform';
export { openEventStream } from './http/event-stream';
export type { HttpPlatform, PassthroughReply } from './http/http-platform';

export { RaftClusterService } from './raft-cluster.service';
export type {
  ClusterStatus,
  ClusterMemberStatus,
  Readiness,
  AddMemberResult,
  RemoveMemberResult,
  TransferResult,
  StateDigestStatus,
} from './raft-cluster.service';
export type { RaftClusterEvent, RaftClusterEventType } from './raft-cluster.events';
export { RaftClusterMetrics } from './raft-cluster.metrics';
export { RaftHealthIndicator, RaftHealthCheckError } from './raft-health.indicator';
export type { RaftHealthIndicatorResult } from './raft-health.indicator';

export { Replicated, ReplicatedEvent, ReplicatedState, Consistency, LeaderOnly } from './cqrs/decorators';
export type { ReadConsistency } from './cqrs/decorators';
export type { LeaderOnlyMode, LeaderOnlyOptions } from './http/leader-only.interceptor';
export { LiveQuery } from './live/live-query.decorator';
export { LiveQueryBus } from './live/live-query.bus';
export type { LiveQueryStats } from './live/live-query-hub';
export type { LiveQueryValue, LiveQueryEmission } from './live/shared-query';
export { LiveQueryStreams } from './live/live-query-streams';
export type { LiveStreamStats } from './live/live-query-streams';
export { currentApplyContext, requireApplyContext, isApplying } from './cqrs/apply-context';
export type { RaftApplyContext } from './cqrs/apply-context';
export { InMemoryStore, ReplicatedStateWriteError } from './cqrs/replicated-store';
export type { ReplicatedStateStore, StoreSnapshotCursor } from './cqrs/replicated-store';

export { EventProcessor } from './processors/event-processor.decorator';
export type { EventProcessorHandler, EventProcessorMode, EventProcessorOptions, ProcessedEventMeta, ProcessorResetInfo } from './processors/event-processor.decorator';
export { FileCheckpointStore, MemoryCheckpointStore } from './processors/checkpoint-store';
export type { CheckpointStore } from './processors/checkpoint-store';
export type { ProcessorStatus, ProcessorState } from './processors/processor-runner';

export { AdminOnly } from './admin/admin-only.decorator';
export { RaftAdminGuard } from './admin/admin.guard';
export { ClusterHttpError } from './raft-cluster.errors';
export { ReplicatedCommandError } from './cqrs/error-codec';
export { ClusterExceptionFilter } from './http/cluster-exception.filter';
export { NotLeaderError, NodeStoppedError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
export type { StateMachine, ApplyContext, Entry } from '@raft-cqrs/raft';
