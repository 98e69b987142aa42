import type { ChatMessage } from '../domain/chat-message';

/** Raised when a message is stored (not for a repeated msg_id), on every node at apply. */
export class MessagePostedEvent {
  constructor(readonly message: ChatMessage) {}
}
