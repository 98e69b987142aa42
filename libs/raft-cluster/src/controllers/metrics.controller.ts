import { Controller, Get, StreamableFile, UseFilters } from '@nestjs/common';
import { RaftClusterMetrics } from '../raft-cluster.metrics';
import { ClusterExceptionFilter } from './cluster-exception.filter';

/** `GET /metrics`: this node's registry in the Prometheus text format, with the registry's content type. */
@Controller('metrics')
@UseFilters(ClusterExceptionFilter)
export class MetricsController {
  constructor(private readonly metrics: RaftClusterMetrics) {}

  @Get()
  async scrape(): Promise<StreamableFile> {
    const body = Buffer.from(await this.metrics.metrics(), 'utf8');
    // A StreamableFile keeps the content type exactly as given (Express would reorder its parameters).
    return new StreamableFile(body, { type: this.metrics.contentType, length: body.length });
  }
}
