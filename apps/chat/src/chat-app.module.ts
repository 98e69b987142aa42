import { Module, Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { ClusterExceptionFilter, RaftClusterModule } from '@raft-cqrs/raft-cluster';
import { RAFT_GROUP_HOST_OPTIONS, RaftGroupHost } from '@raft-cqrs/raft-cluster/groups';
import type { RaftEnvOptions } from '@raft-cqrs/raft-cluster';
import { ChatV1Controller } from './api-v1/chat-v1.controller';
import { ChatV2Controller } from './api-v2/chat-v2.controller';
import { CHAT_OPTIONS, ChatOptions, DEFAULT_CHAT_OPTIONS } from './chat.options';
import { ConversationService } from './conversation/conversation.service';
import { MessageLog } from './domain/message-log';
import { WebPage } from './http/web-page';
import { ChatGroupsService } from './groups/chat-groups.service';
import { CreateGroupHandler } from './groups/create-group.handler';
import { GroupRegistry } from './groups/group-registry';
import { CHAT_GROUPS_OPTIONS, ChatGroupsOptions, groupsEnv } from './groups/groups.options';
import { ListMessagesHandler } from './list-messages/list-messages.handler';
import { MembershipController } from './membership/membership.controller';
import { MembershipService } from './membership/membership.service';
import { PostMessageHandler } from './post-message/post-message.handler';
import { MessageStreamHub } from './stream-messages/message-stream.hub';
import { TRANSCRIPT_DIR, TranscriptWriter } from './transcript/transcript.writer';

/**
 * The chat app: one node of a Raft-replicated cluster. No RAFT_STATE_MACHINE is provided, so the
 * module replicates through the CQRS bridge: PostMessageCommand goes through the log, MessageLog is
 * the replicated state.
 */
export function chatAppModule(raft: RaftEnvOptions, chat: Partial<ChatOptions> = {}, groups: Partial<ChatGroupsOptions> = {}): new () => unknown {
  const groupOptions: ChatGroupsOptions = { ...groupsEnv(), ...groups };
  const options: ChatOptions = { ...DEFAULT_CHAT_OPTIONS, ...chat };
  // Only with a folder: without the processor no event is kept for it at all.
  const transcript: Provider[] = options.transcriptDir === null ? [] : [{ provide: TRANSCRIPT_DIR, useValue: options.transcriptDir }, TranscriptWriter];
  @Module({
    imports: [CqrsModule.forRoot(), RaftClusterModule.forRoot(raft)],
    controllers: [ChatV1Controller, ChatV2Controller, MembershipController],
    providers: [
      { provide: CHAT_OPTIONS, useValue: options },
      { provide: APP_FILTER, useClass: ClusterExceptionFilter },
      MessageLog,
      PostMessageHandler,
      ListMessagesHandler,
      MessageStreamHub,
      ConversationService,
      MembershipService,
      WebPage,
      // v2: one Raft group per conversation group (groups/, api-v2/)
      { provide: CHAT_GROUPS_OPTIONS, useValue: groupOptions },
      { provide: RAFT_GROUP_HOST_OPTIONS, useValue: { maxGroups: groupOptions.maxGroups } },
      GroupRegistry,
      CreateGroupHandler,
      RaftGroupHost,
      ChatGroupsService,
      ...transcript,
    ],
  })
  class ChatAppModule {}
  return ChatAppModule;
}
