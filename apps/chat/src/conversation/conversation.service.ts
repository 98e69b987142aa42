import { Injectable } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { MessageLog } from '../domain/message-log';
import { ListMessagesQuery, MessagePage } from '../list-messages/list-messages.query';
import { PostMessageCommand, PostMessageResult } from '../post-message/post-message.command';
import { PostMessageInput } from '../post-message/post-message.input';
import { MessageStreamHub } from '../stream-messages/message-stream.hub';
import { SseSink, SseSubscriber } from '../stream-messages/sse-subscriber';

export interface ConversationSummary {
  messages: number;
  bytes: number;
  first_index: number | null;
  last_index: number | null;
  evicted_through: number;
  streams: number;
}

/**
 * The chat use cases of one conversation group, whatever the HTTP version: v1 serves the default
 * group through it; v2 will have one of these (and one Raft group) per conversation group.
 */
@Injectable()
export class ConversationService {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
    private readonly log: MessageLog,
    private readonly streams: MessageStreamHub,
  ) {}

  /** Goes through the Raft log (from any node); resolves with the leader's stored message. */
  post(input: PostMessageInput): Promise<PostMessageResult> {
    return this.commandBus.execute<PostMessageCommand, PostMessageResult>(
      new PostMessageCommand(input.convId, input.sender, input.payload, input.vectorClock, input.msgId),
    );
  }

  /** This node's copy of the log (the bus makes it linearizable when the request asks). */
  list(from: number, limit: number): Promise<MessagePage> {
    return this.queryBus.execute<ListMessagesQuery, MessagePage>(new ListMessagesQuery(from, limit));
  }

  /** Streams the messages after `startAfter` to `sink`; `beforeStart` runs once the stream is admitted. */
  stream(sink: SseSink, startAfter: number, beforeStart?: () => void): SseSubscriber {
    return this.streams.open(sink, startAfter, beforeStart);
  }

  summary(): ConversationSummary {
    return {
      messages: this.log.size,
      bytes: this.log.totalBytes,
      first_index: this.log.firstIndex,
      last_index: this.log.lastIndex,
      evicted_through: this.log.evictedThrough,
      streams: this.streams.clientCount,
    };
  }
}
