import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Observable } from 'rxjs';
import { FORWARDED_HEADER, HttpAnswer } from '../internal/http-client';
import { RAFT_CLUSTER_OPTIONS } from '../raft-cluster.constants';
import { ClusterHttpError, noLeaderError } from '../raft-cluster.errors';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { RaftClusterService } from '../raft-cluster.service';
// A cycle (decorators.ts binds this interceptor): LEADER_ONLY is only read when a request is served.
import { LEADER_ONLY, LeaderOnlyMode } from './decorators';

/** The leader's answer to a forwarded request, to be sent to the client as it is (see `relayAnswer`). */
export class RelayedAnswer extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`answer relayed from the leader (${answer.status})`);
    this.name = 'RelayedAnswer';
  }
}

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

/** Request headers that go with a forwarded request (the rest describe the hop, not the request). */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'authorization', 'idempotency-key', 'x-request-id', 'x-consistency', 'cookie', 'user-agent'];

type ExpressLikeRequest = IncomingMessage & { originalUrl?: string; body?: unknown };

/**
 * Serves `@LeaderOnly()` routes: on the leader the route runs; on a follower the request is forwarded
 * to the leader and its answer relayed (or 307 / 409, by mode); with no leader, or for a request that
 * was already forwarded once, 503 with Retry-After.
 */
@Injectable()
export class LeaderOnlyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly cluster: RaftClusterService,
    @Inject(RAFT_CLUSTER_OPTIONS) private readonly options: ResolvedRaftClusterOptions,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const meta = this.reflector.getAllAndOverride<{ mode?: LeaderOnlyMode } | undefined>(LEADER_ONLY, [context.getHandler(), context.getClass()]);
    if (meta === undefined || this.cluster.isLeader) return next.handle();
    const req = context.switchToHttp().getRequest<ExpressLikeRequest>();
    const leaderId = this.cluster.leaderId;
    const leaderUrl = this.cluster.leaderUrl;
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      throw noLeaderError('this request was forwarded here as to the leader, but this node does not lead (leadership is moving); retry shortly');
    }
    if (leaderId === null || leaderUrl === null || leaderId === this.cluster.memberId) throw noLeaderError();
    const path = req.originalUrl ?? req.url ?? '/';
    const mode = meta.mode ?? this.options.leaderOnlyMode;
    if (mode === 'redirect') {
      throw new ClusterHttpError(307, 'not_leader', `this node is not the leader; the leader is ${leaderId}`, { leaderId, leaderUrl }, { Location: new URL(path, leaderUrl).toString() });
    }
    if (mode === 'reject') {
      throw new ClusterHttpError(409, 'not_leader', `this node is not the leader; send the request to ${leaderId}`, { leaderId, leaderUrl });
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    // Express 5's body parsers leave req.body undefined when the request had no body to parse.
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.body !== undefined;
    const answer = await this.cluster.forwardToLeader(req.method ?? 'GET', path, hasBody ? req.body : undefined, headers);
    throw new RelayedAnswer(answer);
  }
}
