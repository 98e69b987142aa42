import { NodeStoppedError, NotLeaderError, RaftNode } from '@raft-cqrs/raft';
import type { ConfState, MessageTransport, StateMachine } from '@raft-cqrs/raft';
import { FileStorage, MemoryStorage, RaftStorage } from '@raft-cqrs/raft/storage';
import { createPeerRequestHandler, HttpTransport, PeerRequestHandler, PeerRequestHandlerOptions, PeerStatus } from '@raft-cqrs/raft/transport';
import { memberProofHeaders } from '../admin/member-proof';
import { FORWARDED_HEADER, HttpAnswer, httpCall, HttpCallError } from '../internal/http-client';
import { InstrumentedStorage } from '../internal/instrumented-storage';
import { ClusterMemberStatus, raftStatusView, RaftStatusView } from '../internal/status-view';
import { sleep, waitUntil, withTimeout } from '../internal/timing';
import { ClusterHttpError, isLeaderChange, noLeaderError, notLeaderError, RETRY_AFTER_SECONDS } from '../raft-cluster.errors';
import type { RaftClusterLogger } from '../raft-cluster.logger';
import type { RaftClusterMetrics } from '../raft-cluster.metrics';
import { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { AddMemberResult, GroupMembership, RemoveMemberResult, TransferResult } from './group-membership';

/** One member in a group's status (same shape as `GET /cluster/status`'s members). */
export type RaftGroupMemberStatus = ClusterMemberStatus;

/** A group's Raft status on this node (the fields of `GET /cluster/status`, for that group). */
export interface RaftGroupStatus extends RaftStatusView {
  group: string;
}

export type { AddMemberResult, RemoveMemberResult, TransferResult } from './group-membership';

/** Where a group's messages go: the transport, behind a directory that decides each peer's URL. */
export interface GroupPeers extends MessageTransport {
  peerStatus(): Record<string, PeerStatus>;
  close(): Promise<void>;
}

/** How one submission reaches the log: proposed here when this node leads, or sent to the leader. */
export interface Submission<T> {
  /** On this node as leader. */
  here(deadline: number): Promise<T>;
  /** At `leaderId` (another node). Rejects with an error `isLeaderChange` accepts when it should be tried again. */
  atLeader(leaderId: string, leaderUrl: string, deadline: number): Promise<T>;
}

/** What a group is made of; {@link RaftGroup.assemble} builds its storage, transport, node and peer handler. */
export interface RaftGroupParts {
  /** The group's name; `main` for the module's own group. Part of every error message of a named group. */
  name: string;
  options: ResolvedRaftClusterOptions;
  /** Folder of the group's log and snapshots; `':memory:'` keeps them in memory (tests). */
  storageDir: string;
  /** The initial voters (`id -> member URL`), used only when the storage is empty. */
  initialMembers: Record<string, string>;
  stateMachine: StateMachine;
  /** Key of the group's peer traffic. */
  peerSecret: string | null;
  /** Puts a directory between the node and the transport (which URL reaches which peer). */
  peers(transport: HttpTransport): GroupPeers;
  logger: RaftClusterLogger;
  /** Given: storage writes are timed, snapshots and forwarded requests counted in these metrics. */
  metrics?: RaftClusterMetrics;
  onPeerStatus?(id: string, reachable: boolean): void;
  /** Serves `POST /raft/command` for this group (see `createPeerRequestHandler`). */
  onCommand?: PeerRequestHandlerOptions['onCommand'];
  /** Member addresses known outside the group's configuration (a node added later must reach the leader first). */
  hints?(): Record<string, string>;
  /**
   * Where a membership change is accepted on another node (`/cluster/members[/id]`): a change that a
   * leader change took away is sent there, and a leader removing itself hands over first and sends its
   * removal there. Without it, a leader removes itself directly (it steps down once that commits).
   */
  membershipPath?(id?: string): string;
}

/**
 * One Raft group on this node, the module's main group and every extra group alike: its RaftNode,
 * storage, transport and peer handler, and what an app does with a group: propose (with retries at
 * the leader of the moment), read barriers, status, membership, leadership transfer, forwarding to the
 * leader and the hand-over at shutdown.
 */
export class RaftGroup {
  private startedFlag = false;
  private failure: Error | null = null;
  readonly started: Promise<void>;
  private resolveStarted!: () => void;
  /** `group <name>: ` for an extra group, empty for the main one: the start of its error messages. */
  readonly label: string;
  private readonly membership: GroupMembership;

  constructor(
    readonly name: string,
    readonly node: RaftNode,
    readonly storage: RaftStorage,
    readonly peers: GroupPeers,
    readonly handler: PeerRequestHandler,
    private readonly parts: Pick<RaftGroupParts, 'options' | 'hints' | 'membershipPath' | 'logger' | 'metrics'>,
  ) {
    this.started = new Promise((resolve) => (this.resolveStarted = resolve));
    this.label = name === 'main' ? '' : `group ${name}: `;
    this.membership = new GroupMembership(this);
  }

  /** Builds a group's storage, transport, node and peer handler; {@link start} starts it. */
  static assemble(parts: RaftGroupParts): RaftGroup {
    const o = parts.options;
    const logger = parts.logger;
    const transport = new HttpTransport({
      selfId: o.memberId,
      secret: parts.peerSecret,
      requestTimeoutMs: o.requestTimeoutMs,
      logger,
      onPeerStatus: parts.onPeerStatus,
    });
    const peers = parts.peers(transport);
    const durable: RaftStorage = parts.storageDir === ':memory:' ? new MemoryStorage() : new FileStorage(parts.storageDir, { logger: logger.child('storage') });
    const storage = parts.metrics !== undefined ? new InstrumentedStorage(durable, parts.metrics) : durable;
    const node = new RaftNode({
      id: o.memberId,
      initialMembers: { ...parts.initialMembers },
      electionTimeoutMs: o.electionTimeout,
      heartbeatMs: o.heartbeatInterval,
      compactionThreshold: o.compactionThreshold,
      storage,
      transport: peers,
      stateMachine: parts.stateMachine,
      logger,
    });
    node.on('fatal', (err) => logger.error(`the node stopped after a fatal error: ${err.message}`));
    // Log lines show this group's term and role.
    logger.bindState(() => {
      try {
        const s = node.status();
        return { term: s.term, role: s.role };
      } catch {
        return null; // not started yet
      }
    });
    let group: RaftGroup | null = null;
    const handler = createPeerRequestHandler({
      secret: parts.peerSecret,
      maxBodyBytes: o.maxPeerBodyBytes,
      selfId: o.memberId,
      logger,
      onMessages: (msgs) => {
        if (group?.isStarted) node.receive(msgs);
      },
      onCommand: parts.onCommand,
    });
    group = new RaftGroup(parts.name, node, storage, peers, handler, parts);
    return group;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the storage and starts the node; on failure everything is closed again and the error rethrown. */
  async start(): Promise<void> {
    try {
      await this.node.start();
      this.startedFlag = true;
      this.resolveStarted();
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.resolveStarted();
      await this.node.stop('start failed').catch(() => undefined);
      throw this.failure;
    }
  }

  /** Marks a group that was never started (the node shut down first). */
  abandon(why: string): void {
    this.failure = new Error(why);
    this.resolveStarted();
  }

  /** Hands leadership to the most caught-up voter (bounded wait), then stops the node and closes its storage. */
  async stop(signal?: string): Promise<void> {
    if (this.startedFlag) await this.handOverLeadership(signal);
    await this.node.stop('shutdown');
  }

  private async handOverLeadership(signal?: string): Promise<void> {
    const self = this.options.memberId;
    const timeoutMs = this.options.shutdownTransferTimeoutMs;
    const node = this.node;
    if (!node.isLeader || timeoutMs <= 0 || node.stopReason !== null) return;
    if (!node.status().conf.voters.some((v) => v !== self)) return;
    const log = this.parts.logger;
    log.info(`shutting down${signal ? ` (${signal})` : ''}: handing leadership over to the most caught-up voter`);
    try {
      node.transferLeadership();
    } catch (err) {
      log.warn(`leadership transfer at shutdown refused: ${(err as Error).message}`);
      return;
    }
    const moved = await waitUntil(() => !node.isLeader && node.leader !== null && node.leader !== self, timeoutMs);
    if (moved) log.info(`leadership moved to ${node.leader}; stopping`);
    else log.warn(`leadership did not move within ${timeoutMs} ms; stopping anyway (the others will elect a leader)`);
  }

  get isStarted(): boolean {
    return this.startedFlag && this.node.stopReason === null;
  }

  /** Why the group is not running (start failure or fatal error), or null. */
  get problem(): string | null {
    if (this.failure !== null) return this.failure.message;
    if (this.startedFlag) return this.node.stopReason;
    return null;
  }

  // ---------------------------------------------------------------- state

  get isLeader(): boolean {
    return this.isStarted && this.node.isLeader;
  }

  get leaderId(): string | null {
    return this.startedFlag ? this.node.leader : null;
  }

  get leaderUrl(): string | null {
    return this.memberUrl(this.leaderId);
  }

  /** The URL of a member in the group's configuration (or known from the hints); null if unknown. */
  memberUrl(id: string | null): string | null {
    if (id === null) return null;
    if (id === this.options.memberId) return this.options.advertiseUrl;
    if (!this.startedFlag) return null;
    return this.node.status().conf.addresses[id] ?? this.parts.hints?.()[id] ?? null;
  }

  get conf(): ConfState | null {
    return this.startedFlag ? this.node.status().conf : null;
  }

  /** Whether this node is a voter or learner of the group (by its latest configuration). */
  get isMember(): boolean {
    const c = this.conf;
    const self = this.options.memberId;
    return c !== null && (c.voters.includes(self) || c.learners.includes(self));
  }

  status(): RaftGroupStatus {
    const node = this.requireNode();
    return { group: this.name, ...raftStatusView(node, this.options.memberId, this.options.advertiseUrl, this.peers.peerStatus(), (id) => this.memberUrl(id)) };
  }

  /**
   * Waits (up to `timeoutMs`) until the group is started and a leader is known; the leader's id, or null.
   * A group that has just been created elects its first leader within a few election timeouts.
   */
  async waitForLeader(timeoutMs = 3 * this.options.electionTimeout[1]): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    await withTimeout(this.started, timeoutMs, () => new Error('start')).catch(() => undefined);
    for (;;) {
      const id = this.leaderId;
      if (id !== null && this.memberUrl(id) !== null) return id;
      if (this.problem !== null || Date.now() >= deadline) return null;
      await sleep(10);
    }
  }

  // ---------------------------------------------------------------- the log

  /** Proposes on this node, which must lead the group (`NotLeaderError` otherwise). */
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    return this.requireNode().propose(data);
  }

  /**
   * Runs `submission` at the leader of the moment until it has an outcome or `forwardTimeoutMs` runs out:
   * here when this node leads, else at the leader it knows of; after a leader change (not an outcome)
   * it tries again, at the new leader. The submission must carry one request id across its tries, so
   * that a try whose entry did commit is answered from the session table instead of applied again.
   */
  async submit<T>(submission: Submission<T>): Promise<T> {
    const timeoutMs = this.options.forwardTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let delay = 10;
    let last: unknown = null;
    for (;;) {
      try {
        if (this.isLeader) return await submission.here(deadline);
        const leaderId = this.leaderId;
        const url = this.memberUrl(leaderId);
        if (leaderId !== null && leaderId !== this.options.memberId && url !== null) return await submission.atLeader(leaderId, url, deadline);
        last = new NotLeaderError(null);
      } catch (err) {
        if (!isLeaderChange(err)) throw err;
        last = err;
      }
      if (Date.now() + delay >= deadline) break;
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
    if (last instanceof NotLeaderError) throw noLeaderError();
    throw new ClusterHttpError(
      503,
      'unavailable',
      `${this.label}no outcome within ${timeoutMs} ms (${(last as Error).message}); retry with the same Idempotency-Key to learn it`,
      {},
      { 'Retry-After': RETRY_AFTER_SECONDS },
    );
  }

  /** Resolves once this node's copy of the group reflects every write committed before the call (ReadIndex). */
  readBarrier(timeoutMs = Math.max(2 * this.options.electionTimeout[1], 500)): Promise<number> {
    return withTimeout(
      this.requireNode().readBarrier(),
      timeoutMs,
      () => new ClusterHttpError(503, 'read_timeout', `${this.label}the leader did not confirm a read barrier within ${timeoutMs} ms`, {}, { 'Retry-After': RETRY_AFTER_SECONDS }),
    );
  }

  // ---------------------------------------------------------------- membership and leadership

  /**
   * Adds a learner (on the leader; `NotLeaderError` elsewhere), promoted to voter once caught up.
   * Idempotent: a member already there with the same URL is answered with `added: false`.
   */
  addMember(id: string, url: string): Promise<AddMemberResult> {
    return this.membership.addMember(id, url);
  }

  /** Removes a member (on the leader; `NotLeaderError` elsewhere); `removed: false` when it is not one. */
  removeMember(id: string): Promise<RemoveMemberResult> {
    return this.membership.removeMember(id);
  }

  /** Moves leadership (on the leader) to `to` or the most caught-up voter; resolves once another node leads. */
  transferLeadership(to?: string): Promise<TransferResult> {
    return this.membership.transferLeadership(to);
  }

  // ---------------------------------------------------------------- forwarding

  /**
   * Sends a request to the group's leader on a client's behalf (marked `x-raft-forwarded: 1`, so the
   * leader never forwards it again) and returns its answer. 503 when no leader is known.
   */
  async forwardToLeader(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    // A connection that failed before any answer is retried (at the leader of that moment) when repeating
    // the request is harmless: idempotent methods, requests with an idempotency key, and the cluster's own
    // membership and transfer requests (they check what is already done).
    const o = this.options;
    const hasKey = Object.keys(headers).some((h) => o.idempotencyHeaders.includes(h.toLowerCase()));
    const retrySafe = method !== 'POST' && method !== 'PATCH' ? true : hasKey || /\/cluster\/(members|leadership-transfer)(\/|$|\?)/.test(path);
    const attempts = retrySafe ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      const leaderId = this.leaderId;
      const url = this.memberUrl(leaderId);
      if (leaderId === null || url === null || leaderId === o.memberId) throw noLeaderError();
      this.parts.metrics?.forwardedRequests.inc();
      try {
        return await httpCall(url, {
          method,
          path,
          body,
          headers: { ...headers, ...memberProofHeaders(o.secret, method, path, body), [FORWARDED_HEADER]: '1' },
          timeoutMs: o.forwardTimeoutMs + 1000,
        });
      } catch (err) {
        const m = err instanceof Error ? err.message : String(err);
        if (err instanceof HttpCallError && err.kind === 'timeout') throw new ClusterHttpError(504, 'leader_timeout', `${this.label}the leader ${leaderId} did not answer: ${m}`);
        if (attempt >= attempts) {
          throw new ClusterHttpError(503, 'leader_unreachable', `${this.label}the leader ${leaderId} could not be reached: ${m}`, { leaderId, leaderUrl: url }, { 'Retry-After': RETRY_AFTER_SECONDS });
        }
        await sleep(50 * 3 ** (attempt - 1));
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  get options(): ResolvedRaftClusterOptions {
    return this.parts.options;
  }

  get logger(): RaftClusterLogger {
    return this.parts.logger;
  }

  get membershipPath(): ((id?: string) => string) | undefined {
    return this.parts.membershipPath;
  }

  /** The node, once started; 503 before that or after a start failure. */
  requireNode(): RaftNode {
    if (!this.startedFlag || this.failure !== null) {
      const why = this.failure?.message ?? 'it starts at application bootstrap';
      throw new ClusterHttpError(503, 'not_started', `${this.label}the node has not started (${why})`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    return this.node;
  }

  /** The node when it leads the group; `NotLeaderError` (or `NodeStoppedError`) otherwise. */
  requireLeader(): RaftNode {
    const node = this.requireNode();
    if (node.stopReason !== null) throw new NodeStoppedError(node.stopReason);
    if (!node.isLeader) throw new NotLeaderError(node.leader === this.options.memberId ? null : node.leader);
    return node;
  }

  /** The one HTTP answer for "not the leader" of this group, naming where its leader is. */
  notLeader(message?: string): ClusterHttpError {
    const id = this.leaderId === this.options.memberId ? null : this.leaderId;
    return notLeaderError(id, this.memberUrl(id), message);
  }
}
