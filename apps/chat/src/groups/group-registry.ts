import { Injectable } from '@nestjs/common';
import { ReplicatedState, ReplicatedStateStore } from '@raft-cqrs/raft-cluster';
import { Observable, Subject } from 'rxjs';

/** One conversation group, as the main group's log created it (the same on every node). */
export interface ChatGroup {
  name: string;
  /** The group's initial voters (`id` -> member URL): the main group's voters when it was created. */
  members: Record<string, string>;
  /** Index of the main log entry that created it. */
  createdIndex: number;
  /** The main leader's clock when it proposed the creation. */
  createdAt: number;
}

interface GroupRegistrySnapshot {
  version: 1;
  groups: ChatGroup[];
}

export type GroupRegistryChange = { type: 'created'; group: ChatGroup } | { type: 'reset' };

/**
 * The conversation groups of the cluster, in the main group's replicated state: which groups exist
 * and who their initial members are. Mutated only by CreateGroupHandler (during apply), restored from
 * the main snapshot; so after a restart the groups are known again from snapshot + log replay, and
 * every node hosts the same groups. Groups are never deleted.
 */
@ReplicatedState('chat.groups')
@Injectable()
export class GroupRegistry implements ReplicatedStateStore {
  private readonly groups = new Map<string, ChatGroup>();
  private readonly changes = new Subject<GroupRegistryChange>();

  /** Fires synchronously inside apply and restore. */
  readonly changes$: Observable<GroupRegistryChange> = this.changes.asObservable();

  get size(): number {
    return this.groups.size;
  }

  get(name: string): ChatGroup | undefined {
    return this.groups.get(name);
  }

  /** In creation order. */
  list(): ChatGroup[] {
    return [...this.groups.values()];
  }

  /** Call only from a command handler. */
  add(group: ChatGroup): void {
    if (this.groups.has(group.name)) throw new Error(`group registry: ${group.name} already exists`);
    const g = { ...group, members: { ...group.members } };
    this.groups.set(g.name, g);
    this.changes.next({ type: 'created', group: g });
  }

  snapshot(): GroupRegistrySnapshot {
    return { version: 1, groups: this.list() };
  }

  restore(state: unknown): void {
    this.groups.clear();
    if (state !== undefined && state !== null) {
      const s = state as Partial<GroupRegistrySnapshot>;
      if (typeof s !== 'object' || s.version !== 1 || !Array.isArray(s.groups)) throw new Error('group registry: the snapshot is not a version 1 registry');
      for (const g of s.groups) this.groups.set(g.name, g);
    }
    this.changes.next({ type: 'reset' });
  }
}
