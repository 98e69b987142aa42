import { Controller, Get, StreamableFile, UseFilters, UseGuards } from '@nestjs/common';
import { RaftReadGuard } from '../admin/admin.guard';
import { RaftClusterMetrics } from '../raft-cluster.metrics';
import { ClusterExceptionFilter } from '../http/cluster-exception.filter';

/** `GET /metrics`: this node's registry in the Prometheus text format, with the registry's content type. */
@Controller('metrics')
@UseFilters(ClusterExceptionFilter)
@UseGuards(RaftReadGuard)
export class MetricsController {
  constructor(private readonly metrics: RaftClusterMetrics) {}

  @Get()
  async scrape(): Promise<StreamableFile> {
    const body = Buffer.from(await this.metrics.metrics(), 'utf8');
    // A StreamableFile keeps the content type exactly as given (Express would reorder its parameters).
    return new StreamableFile(body, { type: this.metrics.contentType, length: body.length });
  }
}
