import { HttpException } from '@nestjs/common';
import type { CommandBus } from '@nestjs/cqrs';
import { RaftClusterService } from '@raft-cqrs/raft-cluster';
import { RaftGroup, RaftGroupHost, RaftGroupSpec } from '@raft-cqrs/raft-cluster/groups';
import { runInApplyContext, testApplyContext } from '@raft-cqrs/raft-cluster/testing';
import { DEFAULT_CHAT_OPTIONS } from '../src/chat.options';
import { ChatGroupsService } from '../src/groups/chat-groups.service';
import { CreateGroupCommand, CreateGroupResult } from '../src/groups/create-group.command';
import { CreateGroupHandler } from '../src/groups/create-group.handler';
import { GroupRegistry } from '../src/groups/group-registry';
import { groupsEnv } from '../src/groups/groups.options';

const MEMBERS = { n1: 'http://127.0.0.1:3101', n2: 'http://127.0.0.1:3102', n3: 'http://127.0.0.1:3103' };

function apply(handler: CreateGroupHandler, index: number, command: CreateGroupCommand): Promise<CreateGroupResult> {
  return runInApplyContext(testApplyContext(index, { timestamp: 1_700_000_000_000 + index }), () => handler.execute(command));
}

/** Records what the service asks the host to open, as RaftGroupHost.open would (idempotent). */
class FakeHost {
  readonly opened = new Map<string, RaftGroupSpec>();
  open(name: string, spec: RaftGroupSpec): RaftGroup {
    if (!this.opened.has(name)) this.opened.set(name, spec);
    return { name } as unknown as RaftGroup;
  }
}

function service(registry: GroupRegistry, host: FakeHost, self = 'n1'): ChatGroupsService {
  const cluster = { memberId: self, options: { forwardTimeoutMs: 1000 }, clusterPath: (p: string) => p } as unknown as RaftClusterService;
  const s = new ChatGroupsService(registry, host as unknown as RaftGroupHost, cluster, {} as CommandBus, DEFAULT_CHAT_OPTIONS);
  s.onModuleInit();
  return s;
}

describe('v2 group registry (chat.groups.create on the main log)', () => {
  it('creates a group once: a repeat answers the first creation and changes nothing', async () => {
    const registry = new GroupRegistry();
    const handler = new CreateGroupHandler(registry, { maxGroups: 4 });
    const first = await apply(handler, 5, new CreateGroupCommand('alpha', MEMBERS));
    expect(first).toEqual({ created: true, group: { name: 'alpha', members: MEMBERS, createdIndex: 5, createdAt: 1_700_000_000_005 } });
    // Another node asking later, with another view of the members: the first creation stands.
    const again = await apply(handler, 9, new CreateGroupCommand('alpha', { n1: MEMBERS.n1 }));
    expect(again).toEqual({ created: false, group: first.group });
    expect(registry.size).toBe(1);
  });

  it('is bounded: one group beyond maxGroups is a 409 too_many_groups, the same on every node, and existing ones still answer', async () => {
    const registry = new GroupRegistry();
    const handler = new CreateGroupHandler(registry, { maxGroups: 2 });
    await apply(handler, 1, new CreateGroupCommand('g1', MEMBERS));
    await apply(handler, 2, new CreateGroupCommand('g2', MEMBERS));
    const err = await apply(handler, 3, new CreateGroupCommand('g3', MEMBERS)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpException);
    expect((err as HttpException).getStatus()).toBe(409);
    expect((err as HttpException).getResponse()).toMatchObject({ error: 'too_many_groups' });
    expect(registry.list().map((g) => g.name)).toEqual(['g1', 'g2']);
    expect((await apply(handler, 4, new CreateGroupCommand('g1', MEMBERS))).created).toBe(false);
  });

  it('refuses bad names and bad members with a 400 before changing anything', async () => {
    const registry = new GroupRegistry();
    const handler = new CreateGroupHandler(registry, { maxGroups: 8 });
    for (const name of ['', '..', '.', 'a/b', 'x'.repeat(65), 'sp ace']) {
      const err = await apply(handler, 1, new CreateGroupCommand(name, MEMBERS)).catch((e: unknown) => e);
      expect((err as HttpException).getStatus()).toBe(400);
    }
    for (const members of [{}, { 'bad id': 'http://h:1' }, { n1: 'ftp://h' }] as Record<string, string>[]) {
      const err = await apply(handler, 1, new CreateGroupCommand('ok', members)).catch((e: unknown) => e);
      expect((err as HttpException).getStatus()).toBe(400);
    }
    expect(registry.size).toBe(0);
  });

  it('hosts every group it applies; only an initial member starts a group with members, others start empty', async () => {
    const registry = new GroupRegistry();
    const handler = new CreateGroupHandler(registry, { maxGroups: 8 });
    const onN1 = new FakeHost();
    const onN4 = new FakeHost();
    const s1 = service(registry, onN1, 'n1');
    const s4 = service(registry, onN4, 'n4');
    await apply(handler, 3, new CreateGroupCommand('alpha', MEMBERS));
    expect(s1.names()).toEqual(['alpha']);
    expect(onN1.opened.get('alpha')!.initialMembers).toEqual(MEMBERS);
    expect(s4.names()).toEqual(['alpha']);
    expect(onN4.opened.get('alpha')!.initialMembers).toEqual({});
    expect(() => s1.require('beta')).toThrow(HttpException);
  });

  it('after a restart, recreates the groups from the main snapshot and the log replayed after it', async () => {
    const before = new GroupRegistry();
    const handler = new CreateGroupHandler(before, { maxGroups: 8 });
    await apply(handler, 3, new CreateGroupCommand('alpha', MEMBERS));
    await apply(handler, 7, new CreateGroupCommand('beta', MEMBERS));
    const snapshot = JSON.parse(JSON.stringify(before.snapshot())) as unknown;

    // The restarted node: the service subscribes at module init, the main node then restores and replays.
    const registry = new GroupRegistry();
    const host = new FakeHost();
    const s = service(registry, host);
    expect(s.names()).toEqual([]);
    registry.restore(snapshot);
    expect(s.names()).toEqual(['alpha', 'beta']);
    const replay = new CreateGroupHandler(registry, { maxGroups: 8 });
    await apply(replay, 12, new CreateGroupCommand('gamma', MEMBERS));
    await apply(replay, 13, new CreateGroupCommand('alpha', MEMBERS));
    expect(s.names()).toEqual(['alpha', 'beta', 'gamma']);
    expect([...host.opened.keys()]).toEqual(['alpha', 'beta', 'gamma']);
    expect(registry.snapshot()).toEqual({ version: 1, groups: [...before.list(), { name: 'gamma', members: MEMBERS, createdIndex: 12, createdAt: 1_700_000_000_012 }] });
    // A snapshot installed later (from the leader) is a superset: nothing is opened twice.
    registry.restore(JSON.parse(JSON.stringify(registry.snapshot())));
    expect(host.opened.size).toBe(3);
    s.onModuleDestroy();
  });

  it('reads CHAT_MAX_GROUPS (default 64) and refuses a bad value', () => {
    expect(groupsEnv({}).maxGroups).toBe(64);
    expect(groupsEnv({ CHAT_MAX_GROUPS: '3' }).maxGroups).toBe(3);
    expect(() => groupsEnv({ CHAT_MAX_GROUPS: '0' })).toThrow(/CHAT_MAX_GROUPS/);
  });
});
