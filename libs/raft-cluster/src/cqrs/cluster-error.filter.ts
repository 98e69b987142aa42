import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import type { ServerResponse } from 'node:http';
import { ClusterHttpError, toClusterHttpError } from '../raft-cluster.errors';
import { RaftClusterService } from '../raft-cluster.service';
import { RelayedAnswer } from './leader-only.interceptor';

/** Answer headers of the leader that are relayed to the client. */
const RELAYED_ANSWER_HEADERS = ['content-type', 'location', 'retry-after', 'cache-control', 'etag', 'last-modified'];

/** Sends the leader's answer as it came: status, body and the headers that describe it. */
export function relayAnswer(res: ServerResponse, relayed: RelayedAnswer): void {
  const { status, headers, body } = relayed.answer;
  if (res.headersSent) return void res.end();
  for (const name of RELAYED_ANSWER_HEADERS) {
    const v = headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  res.statusCode = status;
  res.end(body);
}

/**
 * Installed app-wide by the module, for the cluster's own errors only (no leader, lost proposal,
 * overload, a relayed leader answer...): each gets its status, `{ error, message }` body and headers
 * (`Retry-After`, `Location`). Every other error is left to the app's filters.
 */
@Catch(ClusterHttpError, NotLeaderError, RaftError, NodeStoppedError, ProposalLostError, RelayedAnswer)
export class ClusterErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('RaftCluster');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly cluster: RaftClusterService,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<ServerResponse>();
    if (exception instanceof RelayedAnswer) return relayAnswer(res, exception);
    const e = toClusterHttpError(exception, (id) => this.cluster.memberUrl(id));
    if (e.status >= 500 && e.code === 'internal_error') this.logger.error(`[${this.cluster.memberId}] ${e.message}`);
    const adapter = this.adapterHost.httpAdapter;
    for (const [k, v] of Object.entries(e.headers)) adapter.setHeader(res, k, v);
    adapter.reply(res, e.body(), e.status);
  }
}
