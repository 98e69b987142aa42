import { Replicated } from '@raft-cqrs/raft-cluster';
import { ChatMessage, VectorClock } from '../domain/chat-message';

/** Posts one message to the conversation group's log (the name is part of the log format: keep it). */
@Replicated('chat.post')
export class PostMessageCommand {
  constructor(
    readonly convId: string,
    readonly sender: string,
    readonly payload: string,
    readonly vectorClock: VectorClock,
    readonly msgId: string | null,
  ) {}
}

export interface PostMessageResult {
  message: ChatMessage;
  /** True when the msg_id was already stored: `message` is that first one and nothing changed. */
  duplicate: boolean;
}
