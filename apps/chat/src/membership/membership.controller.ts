import { Body, Controller, Delete, Get, Param, Post, Req, Res } from '@nestjs/common';
import { AdminOnly, ClusterStatus, PassthroughReply, RaftClusterService } from '@raft-cqrs/raft-cluster';
import type { IncomingHttpHeaders } from 'node:http';
import { ConversationService, ConversationSummary } from '../conversation/conversation.service';
import { memberId, parseJoin } from './membership.input';
import { MembershipAnswer, MembershipService } from './membership.service';

/** `GET /cluster/status`'s body plus this node's copy of the conversation. */
export type ChatNodeStatus = ClusterStatus & { chat: ConversationSummary };

/** The seed chat service's cluster routes, over the library's membership operations. */
@Controller()
export class MembershipController {
  constructor(
    private readonly cluster: RaftClusterService,
    private readonly membership: MembershipService,
    private readonly conversation: ConversationService,
  ) {}

  @Get('status')
  status(): ChatNodeStatus {
    return { ...this.cluster.status(), chat: this.conversation.summary() };
  }

  /** `{ "ID", "RaftAddr" }`: 201 added (as a learner, promoted once caught up), 200 already a member. */
  @Post('join')
  @AdminOnly()
  async join(@Body() body: unknown, @Req() req: { headers: IncomingHttpHeaders }, @Res({ passthrough: true }) res: PassthroughReply): Promise<unknown> {
    const { id, url } = parseJoin(body);
    return send(res, await this.membership.add(id, url, req.headers));
  }

  /** Removes this node; it keeps running outside the cluster until stopped. */
  @Post('leave')
  @AdminOnly()
  async leave(@Req() req: { headers: IncomingHttpHeaders }, @Res({ passthrough: true }) res: PassthroughReply): Promise<unknown> {
    return send(res, await this.membership.remove(this.cluster.memberId, req.headers));
  }

  @Delete('nodes/:id')
  @AdminOnly()
  async remove(@Param('id') id: string, @Req() req: { headers: IncomingHttpHeaders }, @Res({ passthrough: true }) res: PassthroughReply): Promise<unknown> {
    return send(res, await this.membership.remove(memberId('id', id), req.headers));
  }
}

function send(res: PassthroughReply, answer: MembershipAnswer): unknown {
  res.statusCode = answer.status;
  for (const [k, v] of Object.entries(answer.headers)) res.header(k, v);
  return answer.body;
}
