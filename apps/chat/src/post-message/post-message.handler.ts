import { CommandHandler, EventBus, ICommandHandler } from '@nestjs/cqrs';
import { requireApplyContext } from '@raft-cqrs/raft-cluster';
import { ChatMessage } from '../domain/chat-message';
import { MessageLog } from '../domain/message-log';
import { MessagePostedEvent } from './message-posted.event';
import { PostMessageCommand, PostMessageResult } from './post-message.command';
import { parsePostMessage } from './post-message.input';

/** Runs on every node, in log order: everything it uses comes from the command or the apply context. */
@CommandHandler(PostMessageCommand)
export class PostMessageHandler implements ICommandHandler<PostMessageCommand, PostMessageResult> {
  constructor(
    private readonly log: MessageLog,
    private readonly events: EventBus,
  ) {}

  async execute(command: PostMessageCommand): Promise<PostMessageResult> {
    const ctx = requireApplyContext();
    // The controller validated it already; this guards the log against a command from elsewhere
    // (another client of the bus, an older node), and answers the same 400 on every node.
    const input = parsePostMessage({
      conv_id: command.convId,
      sender: command.sender,
      payload: command.payload,
      vector_clock: command.vectorClock,
      msg_id: command.msgId,
    });
    if (input.msgId !== null) {
      const stored = this.log.findByMsgId(input.msgId);
      if (stored !== undefined) return { message: stored, duplicate: true };
    }
    const message: ChatMessage = {
      msg_id: input.msgId ?? ctx.newId(),
      conv_id: input.convId,
      sender: input.sender,
      payload: input.payload,
      vector_clock: input.vectorClock,
      commit_index: ctx.index,
      ts: ctx.timestamp,
    };
    this.log.append(message);
    this.events.publish(new MessagePostedEvent(message));
    return { message, duplicate: false };
  }
}
