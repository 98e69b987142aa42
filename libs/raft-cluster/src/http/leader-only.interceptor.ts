import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { Observable } from 'rxjs';
import { RelayedAnswer } from './relayed-answer';
import { FORWARDED_HEADER } from '../internal/http-client';
import { LEADER_ONLY, RAFT_CLUSTER_OPTIONS } from '../raft-cluster.constants';
import { ClusterHttpError, noLeaderError, notLeaderError } from '../raft-cluster.errors';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { RaftClusterService } from '../raft-cluster.service';

export type LeaderOnlyMode = 'forward' | 'redirect' | 'reject';

export interface LeaderOnlyOptions {
  /**
   * On a follower: `forward` (the default, unless the module option `leaderOnlyMode` says otherwise) sends the request to the leader and relays its answer;
   * `redirect` answers 307 with `Location` on the leader; `reject` answers 409
   * `{ error: 'not_leader', leaderId, leaderUrl }`. With no leader known: 503 with `Retry-After`.
   */
  mode?: LeaderOnlyMode;
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
      const known = leaderId === this.cluster.memberId ? null : leaderId;
      throw notLeaderError(known, this.cluster.memberUrl(known), 'this request was forwarded here as to the leader, but this node does not lead (leadership is moving); retry shortly');
    }
    if (leaderId === null || leaderUrl === null || leaderId === this.cluster.memberId) throw noLeaderError();
    const path = req.originalUrl ?? req.url ?? '/';
    const mode = meta.mode ?? this.options.leaderOnlyMode;
    if (mode === 'redirect') {
      throw new ClusterHttpError(307, 'not_leader', `this node is not the leader; the leader is ${leaderId}`, { leaderId, leaderUrl }, { Location: new URL(path, leaderUrl).toString() });
    }
    if (mode === 'reject') {
      throw notLeaderError(leaderId, leaderUrl, `this node is not the leader; send the request to ${leaderId}`, 409);
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
