import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError, RaftNode } from '@raft-cqrs/raft';
import type { ConfState, NodeId } from '@raft-cqrs/raft';
import type { RaftStorage } from '@raft-cqrs/raft/storage';
import type { HttpTransport, PeerRequestHandler } from '@raft-cqrs/raft/transport';
import { memberProofHeaders } from '../admin/member-proof';
import { FORWARDED_HEADER, HttpAnswer, httpCall, HttpCallError } from '../internal/http-client';
import { ClusterHttpError, noLeaderError, RETRY_AFTER_SECONDS, toClusterHttpError } from '../raft-cluster.errors';
import { MEMBER_ID_PATTERN, normaliseMemberUrl } from '../raft-cluster.options';
import { ClusterMemberStatus, raftStatusView, RaftStatusView } from '../internal/status-view';
import { sleep, withTimeout } from '../internal/timing';
import { groupPeerUrl } from './group-peer';

/** One member in a group's status (same shape as `GET /cluster/status`'s members). */
export type RaftGroupMemberStatus = ClusterMemberStatus;

/** A group's Raft status on this node (the fields of `GET /cluster/status`, for that group). */
export interface RaftGroupStatus extends RaftStatusView {
  group: string;
}

export interface RaftGroupMemberChange {
  id: string;
  url?: string;
  /** False when nothing changed (already a member with that URL / already gone). */
  changed: boolean;
  index: number | null;
  voter?: boolean;
  members: Record<string, string>;
}

/** What a group needs from its host (timeouts and how to reach members outside the group's own configuration). */
export interface RaftGroupEnv {
  memberId: string;
  advertiseUrl: string;
  electionTimeout: [number, number];
  forwardTimeoutMs: number;
  /** The cluster secret: requests forwarded to the group's leader carry a member proof made with it. */
  secret: string | null;
  /** Member addresses of the main group: used to reach peers while this node is not in the group's configuration. */
  hints(): Record<string, string>;
}

/**
 * Decides where a group's peers are reached: the group's configuration when this node is in one,
 * otherwise the main group's addresses (a node added to a group later must answer the group's leader
 * before its first configuration entry arrives). Member URLs get the group's peer prefix.
 */
export class GroupPeerDirectory {
  private fromConf: Record<NodeId, string> = {};

  constructor(
    private readonly transport: HttpTransport,
    private readonly group: string,
    private readonly selfId: string,
    private readonly hints: () => Record<string, string>,
  ) {}

  send(messages: Parameters<HttpTransport['send']>[0]): void {
    if (messages.length > 0) this.transport.send(messages);
  }

  setPeers(addresses: Record<NodeId, string>): void {
    this.fromConf = { ...addresses };
    this.refresh();
  }

  /** Re-reads the hints (the main group's membership changed). */
  refresh(): void {
    const source = Object.keys(this.fromConf).length > 0 ? { ...this.hints(), ...this.fromConf } : this.hints();
    const peers: Record<NodeId, string> = {};
    for (const [id, url] of Object.entries(source)) if (id !== this.selfId) peers[id] = groupPeerUrl(url, this.group);
    this.transport.setPeers(peers);
  }

  peerStatus(): ReturnType<HttpTransport['peerStatus']> {
    return this.transport.peerStatus();
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/**
 * One Raft group hosted on this node (next to the main group of RaftClusterModule): its RaftNode,
 * storage, transport and peer handler. Made and started by {@link RaftGroupHost}; the app reaches it
 * through the host. Membership, proposals and read barriers act on this group only.
 */
export class RaftGroup {
  private startedFlag = false;
  private failure: Error | null = null;
  readonly started: Promise<void>;
  private resolveStarted!: () => void;

  constructor(
    readonly name: string,
    readonly node: RaftNode,
    readonly storage: RaftStorage,
    readonly directory: GroupPeerDirectory,
    readonly handler: PeerRequestHandler,
    private readonly env: RaftGroupEnv,
  ) {
    this.started = new Promise((resolve) => (this.resolveStarted = resolve));
  }

  /** @internal called by the host */
  markStarted(): void {
    this.startedFlag = true;
    this.resolveStarted();
  }

  /** @internal called by the host */
  markFailed(err: Error): void {
    this.failure = err;
    this.resolveStarted();
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

  get isLeader(): boolean {
    return this.isStarted && this.node.isLeader;
  }

  get leaderId(): string | null {
    return this.isStarted ? this.node.leader : null;
  }

  get leaderUrl(): string | null {
    return this.memberUrl(this.leaderId);
  }

  memberUrl(id: string | null): string | null {
    if (id === null) return null;
    if (id === this.env.memberId) return this.env.advertiseUrl;
    if (!this.startedFlag) return null;
    return this.node.status().conf.addresses[id] ?? this.env.hints()[id] ?? null;
  }

  get conf(): ConfState | null {
    return this.startedFlag ? this.node.status().conf : null;
  }

  /** Whether this node is a voter or learner of the group (by its latest configuration). */
  get isMember(): boolean {
    const c = this.conf;
    return c !== null && (c.voters.includes(this.env.memberId) || c.learners.includes(this.env.memberId));
  }

  status(): RaftGroupStatus {
    const node = this.requireNode();
    return { group: this.name, ...raftStatusView(node, this.env.memberId, this.env.advertiseUrl, this.directory.peerStatus(), (id) => this.memberUrl(id)) };
  }

  /**
   * Waits (up to `timeoutMs`) until the group is started and a leader is known; the leader's id, or null.
   * A group that has just been created elects its first leader within a few election timeouts.
   */
  async waitForLeader(timeoutMs = 3 * this.env.electionTimeout[1]): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    await withTimeout(this.started, timeoutMs, () => new Error('start')).catch(() => undefined);
    for (;;) {
      const id = this.leaderId;
      if (id !== null && this.memberUrl(id) !== null) return id;
      if (this.problem !== null || Date.now() >= deadline) return null;
      await sleep(10);
    }
  }

  /** Proposes on this node, which must lead the group (`NotLeaderError` otherwise). */
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    return this.requireNode().propose(data);
  }

  /** Resolves once this node's copy of the group reflects every write committed before the call. */
  readBarrier(timeoutMs = Math.max(2 * this.env.electionTimeout[1], 500)): Promise<number> {
    return withTimeout(
      this.requireNode().readBarrier(),
      timeoutMs,
      () => new ClusterHttpError(503, 'read_timeout', `group ${this.name}: the leader did not confirm a read barrier within ${timeoutMs} ms`, {}, { 'Retry-After': RETRY_AFTER_SECONDS }),
    );
  }

  /** Adds a learner to this group (on its leader); promoted to voter once caught up. Same answer again is `changed: false`. */
  async addMember(id: string, url: string): Promise<RaftGroupMemberChange> {
    if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) {
      throw new ClusterHttpError(400, 'bad_request', 'field "ID" must be 1-64 characters of letters, digits, ".", "_" or "-"', { field: 'ID' });
    }
    const u = normaliseMemberUrl(url);
    if ('problem' in u) throw new ClusterHttpError(400, 'bad_request', `field "RaftAddr" ${u.problem}`, { field: 'RaftAddr' });
    const node = this.requireLeader();
    const deadline = Date.now() + this.env.forwardTimeoutMs;
    for (;;) {
      const conf = node.status().conf;
      if (conf.voters.includes(id) || conf.learners.includes(id)) {
        if (conf.addresses[id] === u.url) return { id, url: u.url, changed: false, index: null, voter: conf.voters.includes(id), members: { ...conf.addresses } };
        throw new ClusterHttpError(409, 'member_conflict', `member ${id} is already in group ${this.name} with URL ${conf.addresses[id] ?? '(none)'}; remove it first`);
      }
      const other = Object.entries(conf.addresses).find(([mid, murl]) => murl === u.url && mid !== id);
      if (other !== undefined) throw new ClusterHttpError(409, 'url_conflict', `URL ${u.url} already belongs to member ${other[0]} of group ${this.name}`);
      try {
        const { index } = await this.changeTimeout(node.changeMembership({ type: 'addLearner', id, address: u.url }), `adding ${id}`);
        return { id, url: u.url, changed: true, index, voter: false, members: { ...node.status().conf.addresses } };
      } catch (err) {
        if (!(err instanceof RaftError && err.code === 'conf_change_pending') || Date.now() >= deadline) throw this.translate(err);
        await sleep(20);
        this.requireLeader();
      }
    }
  }

  /**
   * Removes a member from this group (on its leader). A leader may remove itself: it steps down once the
   * change commits and wakes the most caught-up voter. The last voter cannot be removed.
   */
  async removeMember(id: string): Promise<RaftGroupMemberChange> {
    const node = this.requireLeader();
    const deadline = Date.now() + this.env.forwardTimeoutMs;
    for (;;) {
      const conf = node.status().conf;
      if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
        return { id, changed: false, index: null, members: { ...conf.addresses } };
      }
      if (conf.voters.length === 1 && conf.voters[0] === id) {
        throw new ClusterHttpError(409, 'last_voter', `${id} is the only voter of group ${this.name}; a group cannot remove its last voter`);
      }
      try {
        const { index } = await this.changeTimeout(node.changeMembership({ type: 'remove', id }), `removing ${id}`);
        return { id, changed: true, index, members: { ...node.status().conf.addresses } };
      } catch (err) {
        if (!(err instanceof RaftError && err.code === 'conf_change_pending') || Date.now() >= deadline) throw this.translate(err);
        await sleep(20);
        if (!node.isLeader) throw this.translate(new NotLeaderError(node.leader));
      }
    }
  }

  /** Moves this group's leadership (on its leader) to `to` or the most caught-up voter; resolves once another node leads. */
  async transferLeadership(to?: string): Promise<{ previousLeaderId: string; leaderId: string; leaderUrl: string | null; term: number; moved: boolean }> {
    const node = this.requireLeader();
    const self = this.env.memberId;
    const s = node.status();
    if (to !== undefined) {
      if (to === self) return { previousLeaderId: self, leaderId: self, leaderUrl: this.env.advertiseUrl, term: s.term, moved: false };
      if (s.conf.learners.includes(to)) throw new ClusterHttpError(409, 'not_voter', `${to} is a learner of group ${this.name}; only a voter can lead`);
      if (!s.conf.voters.includes(to)) throw new ClusterHttpError(404, 'not_found', `${to} is not a member of group ${this.name}`);
    } else if (!s.conf.voters.some((v) => v !== self)) {
      throw new ClusterHttpError(409, 'no_transferee', `group ${this.name} has no other voter to hand leadership to`);
    }
    try {
      node.transferLeadership(to);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'bad_conf_change') throw new ClusterHttpError(409, 'transfer_refused', err.message);
      throw this.translate(err);
    }
    const timeoutMs = Math.max(2 * this.env.electionTimeout[1], 1000);
    const deadline = Date.now() + timeoutMs;
    while (!(node.leader !== null && node.leader !== self)) {
      if (Date.now() >= deadline) {
        if (node.isLeader) throw new ClusterHttpError(409, 'transfer_failed', `group ${this.name}: leadership did not move within ${timeoutMs} ms; this node still leads`);
        throw noLeaderError(`group ${this.name}: leadership is moving; retry shortly`);
      }
      await sleep(5);
    }
    const leaderId = node.leader;
    return { previousLeaderId: self, leaderId, leaderUrl: this.memberUrl(leaderId), term: node.status().term, moved: true };
  }

  /**
   * Sends a request to this group's leader on a client's behalf (`x-raft-forwarded: 1`, so it is never
   * forwarded again) and returns its answer; 503 when no leader is known or it cannot be reached.
   */
  async forwardToLeader(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const leaderId = this.leaderId;
    const url = this.memberUrl(leaderId);
    if (leaderId === null || url === null || leaderId === this.env.memberId) throw noLeaderError(`group ${this.name}: no leader is known right now; retry shortly`);
    try {
      const proof = memberProofHeaders(this.env.secret, method, path, body);
      return await httpCall(url, { method, path, body, headers: { ...headers, ...proof, [FORWARDED_HEADER]: '1' }, timeoutMs: this.env.forwardTimeoutMs + 1000 });
    } catch (err) {
      const m = err instanceof Error ? err.message : String(err);
      if (err instanceof HttpCallError && err.kind === 'timeout') throw new ClusterHttpError(504, 'leader_timeout', `group ${this.name}: the leader ${leaderId} did not answer: ${m}`);
      throw new ClusterHttpError(503, 'leader_unreachable', `group ${this.name}: the leader ${leaderId} could not be reached: ${m}`, { leaderId, leaderUrl: url }, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
  }

  /** A Raft error of this group as its HTTP answer (the leader named is this group's). */
  translate(err: unknown): unknown {
    if (err instanceof NotLeaderError) {
      const leaderId = err.leaderId;
      return new ClusterHttpError(503, 'not_leader', `this node does not lead group ${this.name}`, { leaderId, leaderUrl: this.memberUrl(leaderId) }, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    if (err instanceof ProposalLostError) {
      return new ClusterHttpError(503, 'proposal_lost', `group ${this.name}: ${err.message}; retry`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    if (err instanceof NodeStoppedError) return new ClusterHttpError(503, 'stopped', `group ${this.name}: ${err.message}`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    if (err instanceof RaftError) return toClusterHttpError(err);
    return err;
  }

  private requireNode(): RaftNode {
    if (!this.startedFlag || this.failure !== null) {
      const why = this.failure?.message ?? 'it is starting';
      throw new ClusterHttpError(503, 'group_unavailable', `group ${this.name} is not running on this node (${why})`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    return this.node;
  }

  private requireLeader(): RaftNode {
    const node = this.requireNode();
    if (node.stopReason !== null) throw this.translate(new NodeStoppedError(node.stopReason));
    if (!node.isLeader) throw this.translate(new NotLeaderError(node.leader === this.env.memberId ? null : node.leader));
    return node;
  }

  private changeTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.env.forwardTimeoutMs;
    return withTimeout(p, ms, () => new ClusterHttpError(504, 'timeout', `group ${this.name}, ${what}: the configuration change was not applied within ${ms} ms`));
  }
}
