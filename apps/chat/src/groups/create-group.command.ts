import { Replicated } from '@raft-cqrs/raft-cluster';
import { ChatGroup } from './group-registry';

/**
 * Creates a conversation group (one Raft group) in the main group's log; idempotent. `members` are the
 * group's initial voters, chosen by the node that asks (its view of the main group's voters) and fixed
 * by the log, so every node starts the group with the same ones. The name is part of the log format.
 */
@Replicated('chat.groups.create')
export class CreateGroupCommand {
  constructor(
    readonly name: string,
    readonly members: Record<string, string>,
  ) {}
}

export interface CreateGroupResult {
  group: ChatGroup;
  /** False when the group already existed (nothing changed). */
  created: boolean;
}
