import { ConflictException, Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { MEMBER_ID_PATTERN, normaliseMemberUrl, requireApplyContext } from '@raft-cqrs/raft-cluster';
import { BadFieldException } from '../http/bad-field.exception';
import { CreateGroupCommand, CreateGroupResult } from './create-group.command';
import { groupName } from './group-name';
import { GroupRegistry } from './group-registry';
import { CHAT_GROUPS_OPTIONS, ChatGroupsOptions } from './groups.options';

const MAX_MEMBERS = 64;

function members(raw: unknown): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadFieldException('members', 'field "members" must be an object of member id -> URL');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length < 1 || entries.length > MAX_MEMBERS) throw new BadFieldException('members', `field "members" must name 1-${MAX_MEMBERS} members`);
  const out: Record<string, string> = {};
  for (const [id, url] of entries) {
    if (!MEMBER_ID_PATTERN.test(id)) throw new BadFieldException('members', `field "members": ${JSON.stringify(id.slice(0, 70))} is not a member id`);
    const u = normaliseMemberUrl(url);
    if ('problem' in u) throw new BadFieldException('members', `field "members": the URL of ${id} ${u.problem}`);
    out[id] = u.url;
  }
  return out;
}

/** Runs on every node in main log order: same registry, same answer, same bound everywhere. */
@CommandHandler(CreateGroupCommand)
export class CreateGroupHandler implements ICommandHandler<CreateGroupCommand, CreateGroupResult> {
  constructor(
    private readonly registry: GroupRegistry,
    @Inject(CHAT_GROUPS_OPTIONS) private readonly options: ChatGroupsOptions,
  ) {}

  async execute(command: CreateGroupCommand): Promise<CreateGroupResult> {
    const ctx = requireApplyContext();
    const name = groupName(command.name);
    const existing = this.registry.get(name);
    if (existing !== undefined) return { group: existing, created: false };
    const initial = members(command.members);
    if (this.registry.size >= this.options.maxGroups) {
      throw new ConflictException({ error: 'too_many_groups', message: `the cluster already has ${this.options.maxGroups} conversation groups (CHAT_MAX_GROUPS); post to an existing one` });
    }
    const group = { name, members: initial, createdIndex: ctx.index, createdAt: ctx.timestamp };
    this.registry.add(group);
    return { group, created: true };
  }
}
