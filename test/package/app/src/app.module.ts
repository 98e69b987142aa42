import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { ClusterExceptionFilter, RaftClusterModule, raftEnv } from '@raft-cqrs/raft-cluster';
import { AddHandler } from './add.handler';
import { CounterStore } from './counter.store';
import { CountersController } from './counters.controller';
import { GetCounterHandler } from './get-counter.query';

@Module({
  imports: [CqrsModule.forRoot(), RaftClusterModule.forRootAsync({ useFactory: () => raftEnv().raft })],
  controllers: [CountersController],
  providers: [CounterStore, AddHandler, GetCounterHandler, { provide: APP_FILTER, useClass: ClusterExceptionFilter }],
})
export class AppModule {}
