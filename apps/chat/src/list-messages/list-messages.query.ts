import { ChatMessage } from '../domain/chat-message';

/** Messages with commit_index >= `from`, oldest first, at most `limit`. */
export class ListMessagesQuery {
  constructor(
    readonly from: number,
    readonly limit: number,
  ) {}
}

export interface MessagePage {
  messages: ChatMessage[];
  /** `from` of the next page: one past the last message returned (or the `from` asked when none). */
  next_from: number;
  /** commit_index of the newest message evicted by the retention bound (0 if none): older ones are gone. */
  evicted_through: number;
}
