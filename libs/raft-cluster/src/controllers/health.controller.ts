import { Controller, Get, Res, UseFilters } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RaftClusterService, Readiness } from '../raft-cluster.service';
import { ClusterExceptionFilter } from '../http/cluster-exception.filter';

/** `GET /health/live` (the process runs) and `GET /health/ready` (a leader is known and the known commit index is applied). */
@Controller('health')
@UseFilters(ClusterExceptionFilter)
export class HealthController {
  constructor(
    private readonly cluster: RaftClusterService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(@Res({ passthrough: true }) res: unknown): { status: 'ok' | 'unavailable' } & Omit<Readiness, 'ready'> {
    const { ready, ...rest } = this.cluster.readiness();
    if (ready) return { status: 'ok', ...rest };
    this.adapterHost.httpAdapter.status(res, 503);
    return { status: 'unavailable', ...rest };
  }
}
