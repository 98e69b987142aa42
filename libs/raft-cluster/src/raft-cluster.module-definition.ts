import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { RaftClusterModuleOptions } from './raft-cluster.options';

/**
 * `RaftClusterModule.forRoot(options)` and `forRootAsync({ imports, useFactory, inject })` (or
 * `useClass` / `useExisting` of a factory with `createRaftClusterOptions()`), with an extra `isGlobal`
 * (default true, so that `RaftClusterService` can be injected anywhere).
 */
export const {
  ConfigurableModuleClass: RaftClusterConfigurableModule,
  MODULE_OPTIONS_TOKEN: RAFT_CLUSTER_MODULE_OPTIONS,
  OPTIONS_TYPE: RAFT_CLUSTER_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RAFT_CLUSTER_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RaftClusterModuleOptions>({ moduleName: 'RaftCluster' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRaftClusterOptions')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

export type RaftClusterModuleAsyncOptions = typeof RAFT_CLUSTER_ASYNC_OPTIONS_TYPE;
export type RaftClusterModuleForRootOptions = typeof RAFT_CLUSTER_OPTIONS_TYPE;
