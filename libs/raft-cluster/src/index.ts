/**
 * @raft-cqrs/raft-cluster: `RaftClusterModule`, the NestJS face of the Raft engine in `@raft-cqrs/raft`.
 *
 * ## Use
 *
 * ```ts
 * @Module({
 *   imports: [RaftClusterModule.forRoot({ memberId, members, dataDir, secret })],
 *   providers: [KvStateMachine, { provide: RAFT_STATE_MACHINE, useExisting: KvStateMachine }],
 * })
 * export class AppModule {}
 *
 * const app = await NestFactory.create(AppModule);
 * app.enableShutdownHooks(); // required: SIGTERM / SIGINT must run the shutdown hooks (leadership hand-over, storage close)
 * await app.listen(port);
 * ```
 *
 * `forRootAsync({ imports, inject, useFactory })` works the same (ConfigurableModuleBuilder). The module is
 * global by default (`isGlobal: false` to opt out). Options are checked by `validateRaftClusterOptions`
 * when the module is instantiated; every problem names the option and what is allowed.
 *
 * ## Lifecycle
 *
 * - Bootstrap (`onApplicationBootstrap`): the state machine is resolved under `RAFT_STATE_MACHINE`
 *   (`ModuleRef`, `strict: false`), storage opened (`FileStorage(dataDir)`, or memory for `':memory:'`),
 *   the peer handler mounted in front of Express on the app's server (`/raft/*` never reaches Nest's
 *   routing) or on its own server with `peerPort`, and the RaftNode started. Entries are applied from the
 *   next event-loop turn on. Global modules run their bootstrap hooks before the others (Nest sorts
 *   hooks by module distance), so a state machine must be usable once constructed (or after
 *   `onModuleInit`), not only after its own `onApplicationBootstrap`.
 * - A node with `join` starts with no configuration and asks that member to add it, with backoff, until it
 *   is added; the answer carries the member addresses, so it can answer the leader before its first
 *   configuration entry arrives.
 * - Shutdown (`beforeApplicationShutdown`): a leader with other voters hands leadership to the most
 *   caught-up one and waits (up to `shutdownTransferTimeoutMs`, default 2 x electionTimeout max) until
 *   another node leads; then the node stops (pending work fails with `NodeStoppedError`), the transport
 *   closes and the storage is flushed and closed.
 *
 * ## Endpoints (SPEC section 3)
 *
 * `GET /cluster/status`, `POST /cluster/members`, `DELETE /cluster/members/:id`,
 * `POST /cluster/leadership-transfer`, `GET /health/live`, `GET /health/ready`, `GET /metrics`; errors are
 * `{ error, message }` (503 + `Retry-After` when no leader is known). Decisions:
 *
 * - Forwarding: membership and transfer requests made to a follower go to the leader over HTTP with
 *   `x-raft-forwarded: 1`; the answer (status, body, `Retry-After`, `Location`) is relayed. A forwarded
 *   request that reaches a non-leader is not forwarded again: 503 `not_leader` with `Retry-After`.
 *   `raft_forwarded_requests_total` counts them.
 * - `POST /cluster/members { id, url }` adds a learner (201), which the leader promotes to voter once it has
 *   caught up; the same member again is a 200 that changes nothing (join retries are safe); another URL for
 *   an existing id is 409. `voter: false` (a permanent non-voter) is not supported and answered 400, since
 *   the core promotes every caught-up learner.
 * - `DELETE /cluster/members/:id` of the leader itself: the leader hands leadership to the most caught-up
 *   voter first, then sends the removal to the new leader itself and relays its answer
 *   (`handedOverTo` in the body). Removing the last voter is 409. The removed node keeps running, outside
 *   the cluster: stop it.
 * - `POST /cluster/leadership-transfer { to? }` answers 200 once another node leads, 409
 *   `transfer_failed` when leadership did not move within 2 election timeouts, 404 / 409 for an unknown
 *   member or a learner.
 *
 * ## Health with @nestjs/terminus
 *
 * Terminus is not a dependency; `RaftHealthIndicator.isHealthy(key)` returns the same shape
 * (`{ [key]: { status: 'up' | 'down', ... } }`): `health.check([() => raft.isHealthy('raft')])`
 * (terminus 10.1+ treats `down` as a failure; `isHealthyOrThrow` throws a `HealthCheckError`-shaped
 * error for older versions).
 *
 * ## Metrics
 *
 * `RaftClusterMetrics.registry` is a prom-client `Registry` of this module instance (never the global
 * default registry). Merge it into an app registry with `Registry.merge` if the app serves its own.
 */
export { RaftClusterModule } from './raft-cluster.module';
export { RAFT_CLUSTER_MODULE_OPTIONS } from './raft-cluster.module-definition';
export type { RaftClusterModuleAsyncOptions, RaftClusterModuleForRootOptions } from './raft-cluster.module-definition';
export { RAFT_CLUSTER_OPTIONS, RAFT_STATE_MACHINE } from './raft-cluster.constants';
export { RaftClusterOptionsError, validateRaftClusterOptions, normaliseMemberUrl, MEMBER_ID_PATTERN } from './raft-cluster.options';
export type { RaftClusterMember, RaftClusterModuleOptions, ResolvedRaftClusterOptions } from './raft-cluster.options';
export { RaftClusterService } from './raft-cluster.service';
export type { ClusterStatus, ClusterMemberStatus, Readiness, AddMemberResult, RemoveMemberResult, TransferResult } from './raft-cluster.service';
export type { RaftClusterEvent, RaftClusterEventType } from './raft-cluster.events';
export { RaftClusterMetrics } from './raft-cluster.metrics';
export type { ProposalResult, MetricsSource } from './raft-cluster.metrics';
export { RaftClusterLogger } from './raft-cluster.logger';
export { RaftHealthIndicator, RaftHealthCheckError } from './raft-health.indicator';
export type { RaftHealthIndicatorResult } from './raft-health.indicator';
export { ClusterHttpError, toClusterHttpError } from './raft-cluster.errors';
export { ClusterExceptionFilter } from './controllers/cluster-exception.filter';
export { FORWARDED_HEADER, jsonBody } from './internal/http-client';
export type { HttpAnswer } from './internal/http-client';
export * from './options-from-env';
export { Replicated, ReplicatedEvent, ReplicatedState, Consistency, LeaderOnly } from './cqrs/decorators';
export type { ReadConsistency, LeaderOnlyMode, LeaderOnlyOptions } from './cqrs/decorators';
export { currentApplyContext, requireApplyContext, isApplying } from './cqrs/apply-context';
export type { RaftApplyContext } from './cqrs/apply-context';
export { InMemoryStore } from './cqrs/replicated-store';
export type { ReplicatedStateStore } from './cqrs/replicated-store';
export { runInApplyContext, ApplyContextImpl } from './cqrs/apply-context';
export { RaftCqrsBridge } from './cqrs/raft-cqrs.bridge';
export { CqrsStateMachine } from './cqrs/cqrs-state-machine';
export type { DivergenceReport } from './cqrs/cqrs-state-machine';
export { ReplicatedCommandError, serializeError, deserializeError } from './cqrs/error-codec';
export type { SerializedError } from './cqrs/error-codec';
export { LeaderOnlyInterceptor, RelayedAnswer } from './cqrs/leader-only.interceptor';
export { ClusterErrorFilter } from './cqrs/cluster-error.filter';
export { RequestContextMiddleware, currentRequestContext } from './cqrs/request-context';
export type { StateDigestStatus } from './raft-cluster.service';
export { RaftGroupHost, RAFT_GROUP_HOST_OPTIONS, DEFAULT_MAX_RAFT_GROUPS } from './groups/raft-group-host';
export type { RaftGroupHostOptions, RaftGroupSpec } from './groups/raft-group-host';
export { RaftGroup, GroupPeerDirectory } from './groups/raft-group';
export type { RaftGroupStatus, RaftGroupMemberStatus, RaftGroupMemberChange, RaftGroupEnv } from './groups/raft-group';
export { createGroupPeerDispatcher, groupPeerUrl, groupSecret, isRaftGroupName, RAFT_GROUP_NAME_PATTERN, RAFT_GROUP_PEER_PREFIX } from './groups/group-peer';
export type { GroupPeerDispatcherOptions } from './groups/group-peer';
