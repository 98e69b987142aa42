import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { isTakenOver, rawResponse, takeOverResponse } from '../http/http-platform';
import type { ServerResponse } from 'node:http';
import { relayAnswer, RelayedAnswer } from './relayed-answer';
import { toClusterHttpError } from '../raft-cluster.errors';
import { RaftClusterService } from '../raft-cluster.service';

/**
 * Exception filter of the cluster controllers: every error becomes JSON `{ error, message }` with the
 * right status and headers (`Retry-After` on 503s, `leaderId`/`leaderUrl` on `not_leader`).
 */
@Catch()
export class ClusterExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('RaftCluster');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly cluster: RaftClusterService,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof RelayedAnswer) return relayAnswer(takeOverResponse(host.switchToHttp().getResponse<unknown>()), exception);
    const e = toClusterHttpError(exception, (id) => this.cluster.memberUrl(id));
    if (e.status >= 500 && e.code === 'internal_error') {
      this.logger.error(`[${this.cluster.memberId}] request failed with an unexpected error: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`);
    }
    const adapter = this.adapterHost.httpAdapter;
    const res = host.switchToHttp().getResponse<unknown>();
    if (isTakenOver(res)) return writeJson(rawResponse(res), e.status, e.headers, e.body());
    for (const [k, v] of Object.entries(e.headers)) adapter.setHeader(res, k, v);
    adapter.reply(res, e.body(), e.status);
  }
}

/** For a response a handler took over on Fastify, where the adapter's reply would be dropped. */
function writeJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
