import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER, DiscoveryModule } from '@nestjs/core';
import { ClusterErrorFilter } from './cqrs/cluster-error.filter';
import { LeaderOnlyInterceptor } from './cqrs/leader-only.interceptor';
import { RaftCqrsBridge } from './cqrs/raft-cqrs.bridge';
import { RequestContextMiddleware } from './cqrs/request-context';
import { ClusterExceptionFilter } from './controllers/cluster-exception.filter';
import { ClusterController } from './controllers/cluster.controller';
import { ClusterStreamController } from './controllers/cluster-stream.controller';
import { ClusterUiController } from './controllers/cluster-ui.controller';
import { HealthController } from './controllers/health.controller';
import { MetricsController } from './controllers/metrics.controller';
import { RAFT_CLUSTER_OPTIONS } from './raft-cluster.constants';
import { RaftClusterLogger } from './raft-cluster.logger';
import { RaftClusterMetrics } from './raft-cluster.metrics';
import { RAFT_CLUSTER_MODULE_OPTIONS, RaftClusterConfigurableModule } from './raft-cluster.module-definition';
import { RaftClusterModuleOptions, ResolvedRaftClusterOptions, validateRaftClusterOptions } from './raft-cluster.options';
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
 * The app provides its replicated state machine under `RAFT_STATE_MACHINE`. The node starts at
 * application bootstrap and hands leadership over at shutdown: call `app.enableShutdownHooks()` so that
 * SIGTERM / SIGINT run the shutdown hooks. Options are validated when the module is instantiated.
 */
@Module({
  imports: [DiscoveryModule],
  controllers: [ClusterController, ClusterStreamController, ClusterUiController, HealthController, MetricsController],
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
    { provide: RaftClusterMetrics, useFactory: (): RaftClusterMetrics => new RaftClusterMetrics() },
    RaftClusterService,
    RaftHealthIndicator,
    ClusterExceptionFilter,
    RaftCqrsBridge,
    LeaderOnlyInterceptor,
    { provide: APP_FILTER, useClass: ClusterErrorFilter },
  ],
  exports: [RaftClusterService, RaftHealthIndicator, RaftClusterMetrics, RAFT_CLUSTER_OPTIONS, RaftCqrsBridge, LeaderOnlyInterceptor],
})
export class RaftClusterModule extends RaftClusterConfigurableModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Request ids and read consistency, for the command and query buses of every route of the app.
    consumer.apply(RequestContextMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
