import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { AdminOnly, openEventStream, PassthroughReply, takeOverResponse } from '@raft-cqrs/raft-cluster';
import { currentRequestContext } from '@raft-cqrs/raft-cluster/groups';
import type { IncomingHttpHeaders } from 'node:http';
import { ChatMessage } from '../domain/chat-message';
import { BadFieldException } from '../http/bad-field.exception';
import { parseListMessages } from '../list-messages/list-messages.input';
import { MessagePage } from '../list-messages/list-messages.query';
import { memberId, parseJoin } from '../membership/membership.input';
import { parsePostMessage } from '../post-message/post-message.input';
import { streamStartAfter } from '../stream-messages/stream-cursor';
import { ChatGroupsService } from '../groups/chat-groups.service';
import { GroupNodeStatus } from '../groups/group-conversation';
import { groupName } from '../groups/group-name';

/**
 * API v2: one Raft group per conversation group, `/api/v2/groups/:group/...`. The bodies and answers
 * are v1's; `commit_index` is the index in that group's own log. The first message posted to an unknown
 * group creates it (through the main group's log, on every node); the other routes answer 404
 * `unknown_group` for it.
 */
@Controller('api/v2/groups/:group')
export class ChatV2Controller {
  constructor(private readonly groups: ChatGroupsService) {}

  /** 201 with the stored message; 200 with the first one when its msg_id was already stored. */
  @Post('message')
  async post(@Param('group') rawGroup: string, @Body() body: unknown, @Req() req: { headers: IncomingHttpHeaders }, @Res({ passthrough: true }) res: PassthroughReply): Promise<ChatMessage> {
    const group = groupName(rawGroup);
    const raw = body !== null && typeof body === 'object' && !Array.isArray(body) && (body as Record<string, unknown>).conv_id === undefined ? { ...(body as object), conv_id: group } : body;
    const input = parsePostMessage(raw);
    const conversation = await this.groups.getOrCreate(group);
    const { message, duplicate } = await conversation.post(input, raw, currentRequestContext()?.requestId ?? null, req.headers);
    res.statusCode = duplicate ? 200 : 201;
    return message;
  }

  @Get('messages')
  list(@Param('group') rawGroup: string, @Query() query: { from?: unknown; limit?: unknown }): Promise<MessagePage> {
    const conversation = this.groups.require(groupName(rawGroup));
    const { from, limit } = parseListMessages(query);
    return conversation.list(from, limit, currentRequestContext()?.consistency === 'linearizable');
  }

  /** Server-Sent Events as v1: `id: <commit_index>` (of this group), `?from=`, `Last-Event-ID`. */
  @Get('stream')
  stream(
    @Param('group') rawGroup: string,
    @Query() query: { from?: unknown },
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: unknown,
  ): void {
    const conversation = this.groups.require(groupName(rawGroup));
    const startAfter = streamStartAfter(query, lastEventId);
    const res = takeOverResponse(reply);
    const subscriber = conversation.stream(res, startAfter, () => openEventStream(res));
    res.on('close', () => subscriber.close('client'));
  }

  /** This node's view of the group's Raft group, plus its copy of the conversation. */
  @Get('status')
  status(@Param('group') rawGroup: string): GroupNodeStatus {
    return this.groups.require(groupName(rawGroup)).status();
  }

  /** `{ "ID", "RaftAddr" }`: adds a member to this group only (201 as a learner, promoted once caught up; 200 already one). */
  @Post('join')
  @AdminOnly()
  async join(@Param('group') rawGroup: string, @Body() body: unknown, @Req() req: { headers: IncomingHttpHeaders }, @Res({ passthrough: true }) res: PassthroughReply): Promise<unknown> {
    const conversation = this.groups.require(groupName(rawGroup));
    const { id, url } = parseJoin(body);
    const result = await conversation.onLeader('POST', '/join', { ID: id, RaftAddr: url }, req.headers, () => conversation.raft.addMember(id, url));
    res.statusCode = result.added ? 201 : 200;
    return { group: conversation.name, ...result };
  }

  /** Removes a member from this group only (200; `removed: false` when it was not a member). */
  @Delete('nodes/:id')
  @AdminOnly()
  async remove(@Param('group') rawGroup: string, @Param('id') rawId: string, @Req() req: { headers: IncomingHttpHeaders }): Promise<unknown> {
    const conversation = this.groups.require(groupName(rawGroup));
    const id = memberId('id', rawId);
    const result = await conversation.onLeader('DELETE', `/nodes/${encodeURIComponent(id)}`, undefined, req.headers, () => conversation.raft.removeMember(id));
    return { group: conversation.name, ...result };
  }

  /** `{ to? }`: moves this group's leadership to `to` (or the most caught-up voter); 200 once another node leads. */
  @Post('leadership-transfer')
  @AdminOnly()
  @HttpCode(200)
  async transfer(@Param('group') rawGroup: string, @Body() body: unknown, @Req() req: { headers: IncomingHttpHeaders }): Promise<unknown> {
    const conversation = this.groups.require(groupName(rawGroup));
    const to = (body as { to?: unknown } | null | undefined)?.to;
    if (to !== undefined && to !== null) memberId('to', to);
    const target = typeof to === 'string' ? to : undefined;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw new BadFieldException('body', 'the body must be a JSON object { to? }');
    const result = await conversation.onLeader('POST', '/leadership-transfer', target === undefined ? {} : { to: target }, req.headers, () => conversation.raft.transferLeadership(target));
    return { group: conversation.name, ...result };
  }
}
