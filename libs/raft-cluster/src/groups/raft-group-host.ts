import * as http from 'node:http';
import * as path from 'node:path';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { StateMachine } from '@raft-cqrs/raft';
import { mountPeerHandler } from '@raft-cqrs/raft/transport';
import { Subscription } from 'rxjs';
import { RAFT_CLUSTER_OPTIONS } from '../raft-cluster.constants';
import { RaftClusterLogger } from '../raft-cluster.logger';
import { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { RaftClusterService } from '../raft-cluster.service';
import { createGroupPeerDispatcher, groupSecret, isRaftGroupName } from './group-peer';
import { GroupPeerDirectory } from './group-peer-directory';
import { RaftGroup } from './raft-group';

/** Options of {@link RaftGroupHost} (provide them under {@link RAFT_GROUP_HOST_OPTIONS}; all optional). */
export interface RaftGroupHostOptions {
  /** Most groups one node hosts; `open` of one more throws. Default 64. */
  maxGroups?: number;
}

export const RAFT_GROUP_HOST_OPTIONS = Symbol('RAFT_GROUP_HOST_OPTIONS');
export const DEFAULT_MAX_RAFT_GROUPS = 64;

/** What a group is started with. */
export interface RaftGroupSpec {
  /**
   * The group's initial voters (`id` -> member URL), used only when its storage is empty. Empty for a
   * node that is not an initial member: it waits until a group leader adds it.
   */
  initialMembers: Record<string, string>;
  /** The group's replicated state; `apply` must be deterministic, as for the main group. */
  stateMachine: StateMachine;
}

/**
 * Runs extra Raft groups in this process, next to the main group of RaftClusterModule: each with its
 * own RaftNode, storage (`<dataDir>/groups/<name>`, or memory with `':memory:'`), state machine and
 * HttpTransport, whose peers are `<member URL>/raft-groups/<name>`. One peer dispatcher, mounted on the
 * app's server in front of Nest, hands each group's streams to that group's handler; each group's peer
 * traffic is signed with a key derived from the cluster secret and the group's name.
 *
 * The host does not decide which groups exist: the app does, deterministically (for example from a
 * command in the main group's log), and calls {@link open} on every node. `open` is idempotent and may
 * be called before the host has bootstrapped (while the main log is replayed): starts wait for it.
 * At shutdown every group's leader hands leadership over (bounded wait), then every node stops and its
 * storage closes.
 *
 * Provide it in the app's module (`providers: [RaftGroupHost]`); it needs RaftClusterModule.
 * With `peerPort`, group traffic still uses the app's server (member URLs).
 */
@Injectable()
export class RaftGroupHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly groups = new Map<string, RaftGroup>();
  private readonly directories = new Map<string, GroupPeerDirectory>();
  private readonly logger: RaftClusterLogger;
  private readonly maxGroups: number;
  private unmount: (() => void) | null = null;
  private bootstrapped = false;
  private shuttingDown = false;
  private readonly waiting: (() => void)[] = [];
  private clusterEvents: Subscription | null = null;

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) private readonly options: ResolvedRaftClusterOptions,
    private readonly cluster: RaftClusterService,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() @Inject(RAFT_GROUP_HOST_OPTIONS) hostOptions?: RaftGroupHostOptions,
  ) {
    this.logger = new RaftClusterLogger(options.memberId, options.secret).child('groups');
    this.maxGroups = hostOptions?.maxGroups ?? DEFAULT_MAX_RAFT_GROUPS;
    if (!Number.isSafeInteger(this.maxGroups) || this.maxGroups < 1) throw new Error(`RaftGroupHost: maxGroups must be a positive integer, got ${String(hostOptions?.maxGroups)}`);
  }

  get size(): number {
    return this.groups.size;
  }

  get limit(): number {
    return this.maxGroups;
  }

  names(): string[] {
    return [...this.groups.keys()];
  }

  get(name: string): RaftGroup | undefined {
    return this.groups.get(name);
  }

  /**
   * The group `name`, made and started (in the background) if this node does not host it yet. The spec
   * of a group already hosted is ignored. Throws for a bad name, beyond `maxGroups`, or after shutdown.
   */
  open(name: string, spec: RaftGroupSpec): RaftGroup {
    const existing = this.groups.get(name);
    if (existing !== undefined) return existing;
    if (!isRaftGroupName(name)) throw new Error(`raft group name ${JSON.stringify(String(name).slice(0, 80))} must be 1-64 characters of letters, digits, ".", "_" or "-"`);
    if (this.shuttingDown) throw new Error(`raft group ${name}: the node is shutting down`);
    if (this.groups.size >= this.maxGroups) throw new Error(`raft group ${name}: this node already hosts ${this.maxGroups} groups (the limit)`);
    const group = this.create(name, spec);
    this.groups.set(name, group);
    void this.start(group);
    return group;
  }

  // ---------------------------------------------------------------- lifecycle

  onApplicationBootstrap(): void {
    const server: unknown = this.adapterHost?.httpAdapter?.getHttpServer?.();
    if (!(server instanceof http.Server)) {
      throw new Error("RaftGroupHost: raft groups need the app's node:http server (NestFactory.create on the Express or Fastify platform)");
    }
    const dispatcher = createGroupPeerDispatcher({
      secret: this.options.secret,
      handlerFor: (name) => {
        const g = this.groups.get(name);
        return g !== undefined && g.isStarted ? g.handler : null;
      },
    });
    this.unmount = mountPeerHandler(server, dispatcher);
    this.clusterEvents = this.cluster.events$.subscribe((e) => {
      if (e.type === 'member-added' || e.type === 'member-removed') for (const d of this.directories.values()) d.refresh();
    });
    this.bootstrapped = true;
    for (const w of this.waiting.splice(0)) w();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const w of this.waiting.splice(0)) w();
    const groups = [...this.groups.values()];
    await Promise.all(
      groups.map(async (g) => {
        try {
          await g.stop();
        } catch (err) {
          this.logger.error(`group ${g.name}: stopping failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    this.clusterEvents?.unsubscribe();
    this.unmount?.();
    this.unmount = null;
    if (groups.length > 0) this.logger.info(`${groups.length} group(s) stopped; storage closed`);
  }

  // ---------------------------------------------------------------- internals

  private hints(): Record<string, string> {
    const out: Record<string, string> = {};
    try {
      Object.assign(out, this.cluster.raftNode?.status().conf.addresses ?? {});
    } catch {
      // the main node has not started yet
    }
    out[this.options.memberId] = this.options.advertiseUrl;
    return out;
  }

  private create(name: string, spec: RaftGroupSpec): RaftGroup {
    const o = this.options;
    return RaftGroup.assemble({
      name,
      options: o,
      storageDir: o.dataDir === ':memory:' ? ':memory:' : path.join(o.dataDir, 'groups', name),
      initialMembers: spec.initialMembers,
      stateMachine: spec.stateMachine,
      peerSecret: groupSecret(o.secret, name),
      peers: (transport) => {
        const directory = new GroupPeerDirectory(transport, name, o.memberId, () => this.hints());
        this.directories.set(name, directory);
        return directory;
      },
      logger: new RaftClusterLogger(o.memberId, o.secret).child(`group ${name}`),
      hints: () => this.hints(),
    });
  }

  private async start(group: RaftGroup): Promise<void> {
    if (!this.bootstrapped) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.shuttingDown) return group.abandon('the node is shutting down');
    try {
      await group.start();
      const conf = group.node.status().conf;
      this.logger.info(`group ${group.name} up: ${conf.voters.length} voter(s), ${conf.learners.length} learner(s)`);
    } catch (err) {
      this.logger.error(`group ${group.name} could not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
