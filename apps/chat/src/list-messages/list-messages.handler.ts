import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { MessageLog } from '../domain/message-log';
import { ListMessagesQuery, MessagePage } from './list-messages.query';

@QueryHandler(ListMessagesQuery)
export class ListMessagesHandler implements IQueryHandler<ListMessagesQuery, MessagePage> {
  constructor(private readonly log: MessageLog) {}

  async execute(query: ListMessagesQuery): Promise<MessagePage> {
    const messages = this.log.after(query.from - 1, query.limit);
    const next = messages.length === 0 ? query.from : messages[messages.length - 1].commit_index + 1;
    return { messages, next_from: next, evicted_through: this.log.evictedThrough };
  }
}
