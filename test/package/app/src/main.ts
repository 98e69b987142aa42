import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { raftEnv } from '@raft-cqrs/raft-cluster';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const { port, host } = raftEnv();
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  await app.listen(port, host);
}

void bootstrap();
