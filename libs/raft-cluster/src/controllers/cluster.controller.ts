import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AdminOnly } from '../admin/admin-only.decorator';
import { RaftReadGuard } from '../admin/admin.guard';
import { FORWARDED_HEADER, jsonBody } from '../internal/http-client';
import { badRequest, noLeaderError, notLeaderError } from '../raft-cluster.errors';
import { MEMBER_ID_PATTERN, normaliseMemberUrl } from '../options/members';
import { AddMemberResult, ClusterStatus, RaftClusterService, RemoveMemberResult, TransferResult } from '../raft-cluster.service';
import { ClusterExceptionFilter } from '../http/cluster-exception.filter';
import { ClusterRequest } from './http-types';

const LOCAL = Symbol('local');

/** Request headers passed on when a request is forwarded to the leader. */
const PASSED_HEADERS = ['x-request-id', 'idempotency-key', 'user-agent'];
/** Answer headers relayed from the leader. */
const RELAYED_HEADERS = ['retry-after', 'location'];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseMemberId(field: string, v: unknown): string {
  if (typeof v !== 'string' || !MEMBER_ID_PATTERN.test(v)) {
    throw badRequest(field, `field "${field}" must be a member id: 1-64 characters of letters, digits, ".", "_" or "-"`);
  }
  return v;
}

/**
 * The cluster endpoints of SPEC section 3 (status, membership, leadership transfer). Membership and
 * transfer requests made to a follower are forwarded to the leader (header `x-raft-forwarded: 1`; a
 * forwarded request is never forwarded again) and the leader's answer is relayed. Changes need the
 * admin credential, checked on the node the client called before anything is forwarded.
 */
@Controller('cluster')
@UseFilters(ClusterExceptionFilter)
export class ClusterController {
  constructor(
    private readonly cluster: RaftClusterService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get('status')
  @UseGuards(RaftReadGuard)
  status(): ClusterStatus {
    return this.cluster.status();
  }

  /**
   * `{ id, url, voter? }`: adds a learner, promoted to voter once caught up. 201 when added, 200 when it
   * was already a member with that URL. `voter: false` (a permanent non-voter) is not supported: 400.
   */
  @Post('members')
  @AdminOnly()
  @HttpCode(201)
  async addMember(@Body() body: unknown, @Req() req: ClusterRequest, @Res({ passthrough: true }) res: unknown): Promise<AddMemberResult | unknown> {
    if (!isObject(body)) throw badRequest('body', 'the body must be a JSON object { id, url, voter? }');
    const id = parseMemberId('id', body.id);
    const u = normaliseMemberUrl(body.url);
    if ('problem' in u) throw badRequest('url', `field "url" ${u.problem}`);
    if (body.voter !== undefined && typeof body.voter !== 'boolean') throw badRequest('voter', 'field "voter" must be a boolean when given');
    if (body.voter === false) {
      throw badRequest('voter', 'field "voter": permanent non-voting members are not supported; every added member joins as a learner and becomes a voter once caught up');
    }
    const forwarded = await this.routeToLeader(req, res, { id, url: u.url });
    if (forwarded !== LOCAL) return forwarded;
    const result = await this.cluster.addMember(id, u.url);
    if (!result.added) this.adapterHost.httpAdapter.status(res, 200);
    return result;
  }

  /**
   * Removes a member. The leader removing itself hands leadership to the most caught-up voter first,
   * then sends the removal to the new leader and relays its answer.
   */
  @Delete('members/:id')
  @AdminOnly()
  async removeMember(@Param('id') rawId: string, @Req() req: ClusterRequest, @Res({ passthrough: true }) res: unknown): Promise<RemoveMemberResult | unknown> {
    const id = parseMemberId('id', rawId);
    const forwarded = await this.routeToLeader(req, res, undefined);
    if (forwarded !== LOCAL) return forwarded;
    return this.cluster.removeMember(id);
  }

  /** `{ to? }`: answers once another node leads (200), or 409 / 503 with the reason. */
  @Post('leadership-transfer')
  @AdminOnly()
  @HttpCode(200)
  async transfer(@Body() body: unknown, @Req() req: ClusterRequest, @Res({ passthrough: true }) res: unknown): Promise<TransferResult | unknown> {
    if (body !== undefined && body !== null && !isObject(body)) throw badRequest('body', 'the body must be a JSON object { to? }');
    const raw = isObject(body) ? body.to : undefined;
    const to = raw === undefined || raw === null ? undefined : parseMemberId('to', raw);
    const forwarded = await this.routeToLeader(req, res, to === undefined ? {} : { to });
    if (forwarded !== LOCAL) return forwarded;
    return this.cluster.transferLeadership(to);
  }

  /** On the leader: LOCAL. On a follower: the leader's answer to the forwarded request (status and headers set on `res`). */
  private async routeToLeader(req: ClusterRequest, res: unknown, body: unknown): Promise<unknown> {
    if (this.cluster.isLeader) return LOCAL;
    const leaderId = this.cluster.leaderId;
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      const known = leaderId === this.cluster.memberId ? null : leaderId;
      throw notLeaderError(known, this.cluster.memberUrl(known), 'this node got a forwarded request but is not the leader (leadership moved); retry');
    }
    if (leaderId === null || leaderId === this.cluster.memberId) throw noLeaderError();
    const headers: Record<string, string> = {};
    for (const h of PASSED_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const answer = await this.cluster.forwardToLeader(req.method, req.originalUrl ?? req.url, body, headers);
    const adapter = this.adapterHost.httpAdapter;
    adapter.status(res, answer.status);
    for (const h of RELAYED_HEADERS) {
      const v = answer.headers[h];
      if (typeof v === 'string') adapter.setHeader(res, h, v);
    }
    const json = jsonBody(answer);
    if (json !== null) return json;
    return answer.status >= 400 ? { error: 'leader_error', message: answer.body.toString('utf8').slice(0, 1000) } : {};
  }
}
