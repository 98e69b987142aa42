import { Injectable } from '@nestjs/common';
import { RaftClusterService } from '@raft-cqrs/raft-cluster';
import type { IncomingHttpHeaders } from 'node:http';

type LeaderAnswer = Awaited<ReturnType<RaftClusterService['forwardToLeader']>>;

/** An HTTP answer to relay: the leader's (when forwarded) or this node's own. */
export interface MembershipAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** Request headers a forwarded membership change keeps (the retry identity of the request). */
const PASSED_HEADERS = ['x-request-id', 'idempotency-key'];

/**
 * Membership changes made on any node: the leader makes them, a follower sends them to the leader's
 * cluster endpoint (marked forwarded, so they never bounce further) and relays the answer.
 */
@Injectable()
export class MembershipService {
  constructor(private readonly cluster: RaftClusterService) {}

  async add(id: string, url: string, headers: IncomingHttpHeaders): Promise<MembershipAnswer> {
    if (this.cluster.isLeader) {
      const result = await this.cluster.addMember(id, url);
      return { status: result.added ? 201 : 200, body: result, headers: {} };
    }
    return relay(await this.cluster.forwardToLeader('POST', this.cluster.membersPath(), { id, url }, passed(headers)));
  }

  /** Removing the leader itself hands leadership over first (RaftClusterService.removeMember). */
  async remove(id: string, headers: IncomingHttpHeaders): Promise<MembershipAnswer> {
    if (this.cluster.isLeader) return { status: 200, body: await this.cluster.removeMember(id), headers: {} };
    const path = this.cluster.membersPath(id);
    return relay(await this.cluster.forwardToLeader('DELETE', path, undefined, passed(headers)));
  }
}

function passed(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of PASSED_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string') out[h] = v;
  }
  return out;
}

function relay(answer: LeaderAnswer): MembershipAnswer {
  const text = answer.body.toString('utf8');
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = { error: 'leader_error', message: text.slice(0, 1000) };
  }
  const retryAfter = answer.headers['retry-after'];
  return { status: answer.status, body, headers: typeof retryAfter === 'string' ? { 'retry-after': retryAfter } : {} };
}
