import { HttpException, Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { RaftClusterService } from '@raft-cqrs/raft-cluster';
import { RaftGroupHost } from '@raft-cqrs/raft-cluster/groups';
import { Subscription } from 'rxjs';
import { CHAT_OPTIONS, ChatOptions } from '../chat.options';
import { MessageStreamHub } from '../stream-messages/message-stream.hub';
import { CreateGroupCommand, CreateGroupResult } from './create-group.command';
import { GroupConversation } from './group-conversation';
import { ChatGroup, GroupRegistry } from './group-registry';
import { GroupStateMachine } from './group-state-machine';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * This node's conversation groups (v2): it follows the replicated GroupRegistry and hosts, for each
 * group, a GroupConversation on its own Raft group (RaftGroupHost). A node in the group's initial
 * members starts it with them; any other node starts it empty and takes part once a group leader
 * adds it (`POST /api/v2/groups/:group/join`).
 */
@Injectable()
export class ChatGroupsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ChatGroups');
  private readonly conversations = new Map<string, GroupConversation>();
  private subscription: Subscription | null = null;

  constructor(
    private readonly registry: GroupRegistry,
    private readonly host: RaftGroupHost,
    private readonly cluster: RaftClusterService,
    private readonly commandBus: CommandBus,
    @Inject(CHAT_OPTIONS) private readonly chat: ChatOptions,
  ) {}

  onModuleInit(): void {
    // Before the main node starts (at bootstrap): every group applied or restored from here on is hosted.
    this.subscription = this.registry.changes$.subscribe((change) => {
      if (change.type === 'created') this.hostGroup(change.group);
      else for (const g of this.registry.list()) this.hostGroup(g);
    });
    for (const g of this.registry.list()) this.hostGroup(g);
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    for (const c of this.conversations.values()) c.close();
  }

  get size(): number {
    return this.conversations.size;
  }

  names(): string[] {
    return [...this.conversations.keys()];
  }

  /** The group, or 404 `unknown_group`. */
  require(name: string): GroupConversation {
    const c = this.conversations.get(name);
    if (c === undefined) throw new HttpException({ error: 'unknown_group', message: `there is no conversation group ${name} (POST a message to it to create it)` }, 404);
    return c;
  }

  /**
   * The group, created first (through the main group's log, idempotent) if it does not exist: resolves
   * once this node hosts it. 409 `too_many_groups` beyond the bound.
   */
  async getOrCreate(name: string): Promise<GroupConversation> {
    const known = this.conversations.get(name);
    if (known !== undefined) return known;
    const members: Record<string, string> = {};
    for (const m of this.cluster.status().members) if (m.voter && m.url !== null) members[m.id] = m.url;
    const { group } = await this.commandBus.execute<CreateGroupCommand, CreateGroupResult>(new CreateGroupCommand(name, members));
    // The main leader applied it; this node may still be applying up to that entry.
    const deadline = Date.now() + this.cluster.options.forwardTimeoutMs;
    for (;;) {
      const c = this.conversations.get(group.name);
      if (c !== undefined) return c;
      if (Date.now() >= deadline) {
        throw new HttpException({ error: 'group_starting', message: `group ${name} was created; this node has not applied it yet, retry shortly` }, 503);
      }
      await sleep(5);
    }
  }

  /** `apiPath('/message')` -> `/api/v2/groups/<name>/message` (under the app's global prefix). */
  private apiPath(name: string, suffix: string): string {
    return this.cluster.clusterPath(`/api/v2/groups/${encodeURIComponent(name)}${suffix}`);
  }

  /** Runs inside the main log's apply: never throws, never waits. */
  private hostGroup(group: ChatGroup): void {
    if (this.conversations.has(group.name)) return;
    try {
      const self = this.cluster.memberId;
      const state = new GroupStateMachine(group.name, this.chat);
      const raft = this.host.open(group.name, { initialMembers: group.members[self] !== undefined ? group.members : {}, stateMachine: state });
      const streams = new MessageStreamHub(state.log, this.chat);
      this.conversations.set(
        group.name,
        new GroupConversation(group.name, raft, state, streams, { apiPath: (s) => this.apiPath(group.name, s), forwardTimeoutMs: this.cluster.options.forwardTimeoutMs }),
      );
    } catch (err) {
      this.logger.error(`group ${group.name} cannot be hosted on this node: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
