import { Body, Controller, Get, Headers, Post, Query, Res } from '@nestjs/common';
import { openEventStream, PassthroughReply, takeOverResponse } from '@raft-cqrs/raft-cluster';
import { ConversationService } from '../conversation/conversation.service';
import { ChatMessage } from '../domain/chat-message';
import { parseListMessages } from '../list-messages/list-messages.input';
import { MessagePage } from '../list-messages/list-messages.query';
import { parsePostMessage } from '../post-message/post-message.input';
import { streamStartAfter } from '../stream-messages/stream-cursor';

/** API v1: one conversation group (the default Raft group); `conv_id` is stored with each message. */
@Controller('api/v1')
export class ChatV1Controller {
  constructor(private readonly conversation: ConversationService) {}

  /** 201 with the stored message; 200 with the first one when its msg_id was already stored. */
  @Post('message')
  async post(@Body() body: unknown, @Res({ passthrough: true }) res: PassthroughReply): Promise<ChatMessage> {
    const { message, duplicate } = await this.conversation.post(parsePostMessage(body));
    if (duplicate) res.statusCode = 200;
    return message;
  }

  @Get('messages')
  list(@Query() query: { from?: unknown; limit?: unknown }): Promise<MessagePage> {
    const { from, limit } = parseListMessages(query);
    return this.conversation.list(from, limit);
  }

  /** Server-Sent Events: `id: <commit_index>`, `event: message`, `data: <message JSON>`; see streamStartAfter. */
  @Get('stream')
  stream(@Query() query: { from?: unknown }, @Headers('last-event-id') lastEventId: string | undefined, @Res() reply: unknown): void {
    const startAfter = streamStartAfter(query, lastEventId);
    const res = takeOverResponse(reply);
    const subscriber = this.conversation.stream(res, startAfter, () => openEventStream(res));
    res.on('close', () => subscriber.close('client'));
  }
}
