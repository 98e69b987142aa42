import { ConfigurableModuleBuilder } from '@nestjs/common';
import { routeControllers } from './controllers/route-controllers';
import { RAFT_CLUSTER_ROUTES, RaftClusterRoutes, resolveRoutes } from './controllers/routes';
import type { RaftClusterModuleOptions } from './raft-cluster.options';

/**
 * `RaftClusterModule.forRoot(options)` and `forRootAsync({ imports, useFactory, inject })` (or
 * `useClass` / `useExisting` of a factory with `createRaftClusterOptions()`), with two extras given
 * beside the options (also to `forRootAsync`): `isGlobal` (default true, so that `RaftClusterService`
 * can be injected anywhere) and `routes` (where the cluster, health and metrics routes are served, or
 * `false`). Routes are extras because Nest needs the controllers before any async factory has run.
 */
export const {
  ConfigurableModuleClass: RaftClusterConfigurableModule,
  MODULE_OPTIONS_TOKEN: RAFT_CLUSTER_MODULE_OPTIONS,
  OPTIONS_TYPE: RAFT_CLUSTER_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RAFT_CLUSTER_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RaftClusterModuleOptions>({ moduleName: 'RaftCluster' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRaftClusterOptions')
  .setExtras({ isGlobal: true, routes: {} as RaftClusterRoutes }, (definition, extras) => {
    const routes = resolveRoutes(extras.routes);
    return {
      ...definition,
      global: extras.isGlobal,
      controllers: [...(definition.controllers ?? []), ...routeControllers(routes)],
      providers: [...(definition.providers ?? []), { provide: RAFT_CLUSTER_ROUTES, useValue: routes }],
      exports: [...(definition.exports ?? []), RAFT_CLUSTER_ROUTES],
    };
  })
  .build();

export type RaftClusterModuleAsyncOptions = typeof RAFT_CLUSTER_ASYNC_OPTIONS_TYPE;
export type RaftClusterModuleForRootOptions = typeof RAFT_CLUSTER_OPTIONS_TYPE;
