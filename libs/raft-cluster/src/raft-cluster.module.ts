import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER, DiscoveryModule } from '@nestjs/core';
import { ClusterErrorFilter } from './http/cluster-error.filter';
import { LeaderOnlyInterceptor } from './http/leader-only.interceptor';
import { RAFT_CQRS_REPLICATION } from './cqrs/cqrs-replication';
import { RaftCqrsBridge } from './cqrs/raft-cqrs.bridge';
import { RequestContextMiddleware } from './http/request-context';
import { LiveQueryBus } from './live/live-query.bus';
import { LiveQueryInterceptor } from './live/live-query.interceptor';
import { LiveQueryStreams } from './live/live-query-streams';
import { ClusterExceptionFilter } from './http/cluster-exception.filter';
import { RAFT_CLUSTER_OPTIONS } from './raft-cluster.constants';
import { RaftClusterLogger } from './raft-cluster.logger';
import { RaftClusterMetrics } from './raft-cluster.metrics';
import { RAFT_CLUSTER_MODULE_OPTIONS, RaftClusterConfigurableModule } from './raft-cluster.module-definition';
import { validateRaftClusterOptions } from './options/validate-options';
import { RaftClusterModuleOptions, ResolvedRaftClusterOptions } from './raft-cluster.options';
import { RaftClusterService } from './raft-cluster.service';
import { RaftHealthIndicator } from './raft-health.indicator';

/**
 * Turns the app into one member of a Raft cluster:
 *
 * ```ts
 * RaftClusterModule.forRoot({ memberId: 'node1', members: ['node1=http://10.0.0.1:3000', ...], dataDir: './data/node1', secret })
 * RaftClusterModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({ ... }) })
 * ```
 *
 * With CqrsModule the module replicates the `@Replicated` commands and snapshots the `@ReplicatedState`
 * stores itself; an app with a state machine of its own provides it under `RAFT_STATE_MACHINE`. The
 * controllers come from `routes` (raft-cluster.module-definition.ts). The node starts at application bootstrap and hands leadership over at shutdown: call `app.enableShutdownHooks()` so that
 * SIGTERM / SIGINT run the shutdown hooks. Options are validated when the module is instantiated.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RAFT_CLUSTER_OPTIONS,
      useFactory: (raw: RaftClusterModuleOptions): ResolvedRaftClusterOptions => validateRaftClusterOptions(raw),
      inject: [RAFT_CLUSTER_MODULE_OPTIONS],
    },
    {
      provide: RaftClusterLogger,
      useFactory: (o: ResolvedRaftClusterOptions): RaftClusterLogger => new RaftClusterLogger(o.memberId, o.secret),
      inject: [RAFT_CLUSTER_OPTIONS],
    },
    {
      provide: RaftClusterMetrics,
      useFactory: (o: ResolvedRaftClusterOptions): RaftClusterMetrics => new RaftClusterMetrics({ processMetrics: o.processMetrics }),
      inject: [RAFT_CLUSTER_OPTIONS],
    },
    RaftClusterService,
    RaftHealthIndicator,
    ClusterExceptionFilter,
    RaftCqrsBridge,
    { provide: RAFT_CQRS_REPLICATION, useExisting: RaftCqrsBridge },
    LeaderOnlyInterceptor,
    LiveQueryBus,
    LiveQueryStreams,
    LiveQueryInterceptor,
    { provide: APP_FILTER, useClass: ClusterErrorFilter },
  ],
  exports: [RaftClusterService, RaftHealthIndicator, RaftClusterMetrics, RAFT_CLUSTER_OPTIONS, RaftCqrsBridge, LeaderOnlyInterceptor, LiveQueryBus, LiveQueryStreams, LiveQueryInterceptor],
})
export class RaftClusterModule extends RaftClusterConfigurableModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Request ids and read consistency, for the command and query buses of every route of the app.
    consumer.apply(RequestContextMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
