import { NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import type { RaftNode } from '@raft-cqrs/raft';
import { HttpAnswer, jsonBody } from '../internal/http-client';
import { sleep, waitUntil, withTimeout } from '../internal/timing';
import { ClusterHttpError, noLeaderError } from '../raft-cluster.errors';
import type { RaftClusterLogger } from '../raft-cluster.logger';
import { MEMBER_ID_PATTERN, normaliseMemberUrl } from '../options/members';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';

export interface AddMemberResult {
  id: string;
  url: string;
  /** Always false for a new member: it joins as a learner and is promoted once caught up. */
  voter: boolean;
  /** Log index of the configuration change; null when the member was already there (nothing changed). */
  index: number | null;
  /** False when the member was already in the configuration with that URL. */
  added: boolean;
  /** The configuration's addresses after the change (`id -> url`). */
  members: Record<string, string>;
}

export interface RemoveMemberResult {
  id: string;
  /** False when it was not a member (nothing changed). */
  removed: boolean;
  index: number | null;
  /** Set when this node removed itself: leadership went there first and that leader removed it. */
  handedOverTo?: string;
}

export interface TransferResult {
  previousLeaderId: string;
  leaderId: string;
  leaderUrl: string | null;
  term: number;
  /** False when `to` was already the leader. */
  moved: boolean;
}

/** What membership and leadership changes need of their group. */
export interface MembershipHost {
  readonly options: ResolvedRaftClusterOptions;
  readonly logger: RaftClusterLogger;
  /** `group <name>: ` for an extra group, empty for the main one: the start of its error messages. */
  readonly label: string;
  readonly leaderId: string | null;
  memberUrl(id: string | null): string | null;
  /** See `RaftGroupParts.membershipPath`. */
  readonly membershipPath: ((id?: string) => string) | undefined;
  requireLeader(): RaftNode;
  forwardToLeader(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer>;
}

/**
 * Membership and leadership changes of one Raft group, on its leader: adding a learner, removing a
 * member (a leader removing itself included), moving leadership. Every change is idempotent, so one
 * that a leader change took away is simply made again, here or at the new leader.
 */
export class GroupMembership {
  constructor(private readonly group: MembershipHost) {}

  /**
   * Adds a learner (on the leader; `NotLeaderError` elsewhere), promoted to voter once caught up.
   * Idempotent: a member already there with the same URL is answered with `added: false`.
   */
  async addMember(id: string, url: string): Promise<AddMemberResult> {
    if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) {
      throw new ClusterHttpError(400, 'bad_request', 'field "id" must be 1-64 characters of letters, digits, ".", "_" or "-"', { field: 'id' });
    }
    const u = normaliseMemberUrl(url);
    if ('problem' in u) throw new ClusterHttpError(400, 'bad_request', `field "url" ${u.problem}`, { field: 'url' });
    const node = this.group.requireLeader();
    const deadline = Date.now() + this.group.options.forwardTimeoutMs;
    for (;;) {
      const conf = node.status().conf;
      const existing = conf.addresses[id];
      if (conf.voters.includes(id) || conf.learners.includes(id)) {
        if (existing === u.url) return { id, url: u.url, voter: conf.voters.includes(id), index: null, added: false, members: { ...conf.addresses } };
        throw new ClusterHttpError(409, 'member_conflict', `${this.group.label}member ${id} is already in the group with URL ${existing ?? '(none)'}; remove it first to change its URL`);
      }
      const other = Object.entries(conf.addresses).find(([mid, murl]) => murl === u.url && mid !== id);
      if (other !== undefined) throw new ClusterHttpError(409, 'url_conflict', `${this.group.label}URL ${u.url} already belongs to member ${other[0]}`);
      try {
        const { index } = await this.changeTimeout(node.changeMembership({ type: 'addLearner', id, address: u.url }), `adding ${id}`);
        this.group.logger.info(`added ${id} (${u.url}) as a learner at index ${index}`);
        return { id, url: u.url, voter: false, index, added: true, members: { ...node.status().conf.addresses } };
      } catch (err) {
        const next = await this.afterFailedChange(err, deadline);
        if (next === 'elsewhere') return this.memberChangeAtLeader<AddMemberResult>('POST', this.group.membershipPath!(), { id, url: u.url });
      }
    }
  }

  /**
   * Removes a member (on the leader; `NotLeaderError` elsewhere); `removed: false` when it is not one.
   * A leader removing itself hands leadership to the most caught-up voter first when it knows where the
   * new leader takes membership changes; otherwise it steps down once its removal commits. The last voter
   * cannot be removed.
   */
  async removeMember(id: string): Promise<RemoveMemberResult> {
    const node = this.group.requireLeader();
    const self = this.group.options.memberId;
    const conf = node.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) return { id, removed: false, index: null };
    if (conf.voters.length === 1 && conf.voters[0] === id) {
      throw new ClusterHttpError(409, 'last_voter', `${this.group.label}${id} is the only voter; a group cannot remove its last voter`);
    }
    if (id === self && this.group.membershipPath !== undefined) {
      const moved = await this.transferLeadership();
      const answer = await this.memberChangeAtLeader<RemoveMemberResult>('DELETE', this.group.membershipPath(id));
      return { id, removed: true, index: answer.index ?? null, handedOverTo: moved.leaderId };
    }
    const deadline = Date.now() + this.group.options.forwardTimeoutMs;
    for (;;) {
      try {
        const { index } = await this.changeTimeout(node.changeMembership({ type: 'remove', id }), `removing ${id}`);
        this.group.logger.info(`removed ${id} at index ${index}`);
        return { id, removed: true, index };
      } catch (err) {
        const next = await this.afterFailedChange(err, deadline);
        if (next === 'elsewhere') return this.memberChangeAtLeader<RemoveMemberResult>('DELETE', this.group.membershipPath!(id));
        const c = this.group.requireLeader().status().conf;
        if (!c.voters.includes(id) && !c.learners.includes(id)) return { id, removed: true, index: null };
      }
    }
  }

  /**
   * After a membership change failed: `'retry'` it here, `'elsewhere'` at the new leader, or throws.
   * A change that a leader change took away was not applied, and changes are idempotent: once a leader
   * is known it is retried here when this node leads again, else sent to that leader (when the group
   * knows where it takes changes). A change refused because another is still pending is retried shortly.
   */
  private async afterFailedChange(err: unknown, deadline: number): Promise<'retry' | 'elsewhere'> {
    if (Date.now() >= deadline) throw err;
    // Only a change that leadership took away (lost, or refused by a node that no longer leads) is made
    // again at once: one refused while a transfer runs would be refused again, in a loop that never
    // yields to the timers that end the transfer. The client gets 503 transfer_in_progress instead.
    if (err instanceof NotLeaderError || err instanceof ProposalLostError) {
      if (!(await waitUntil(() => this.group.leaderId !== null, deadline - Date.now()))) throw err;
      if (this.group.leaderId === this.group.options.memberId) {
        this.group.logger.info('a membership change was lost to a leader change and this node leads again: retrying it');
        return 'retry';
      }
      if (this.group.membershipPath !== undefined) return 'elsewhere';
      throw new NotLeaderError(this.group.leaderId);
    }
    if (!(err instanceof RaftError && err.code === 'conf_change_pending')) throw err;
    await sleep(20);
    this.group.requireLeader();
    return 'retry';
  }

  /** Sends a membership change to the leader (another node) and returns its answer, or throws it as an error. */
  private async memberChangeAtLeader<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const answer = await this.group.forwardToLeader(method, path, body);
    const json = jsonBody(answer) as (Partial<T> & { error?: string; message?: string }) | null;
    if (answer.status >= 300) {
      throw new ClusterHttpError(answer.status, json?.error ?? 'forward_failed', json?.message ?? `the leader ${this.group.leaderId ?? '(unknown)'} answered ${answer.status}`);
    }
    return json as T;
  }

  /**
   * Moves leadership (on the leader; `NotLeaderError` elsewhere) to `to`, or to the most caught-up voter,
   * and resolves once another node leads (409 `transfer_failed` when it did not move in time).
   */
  async transferLeadership(to?: string): Promise<TransferResult> {
    const node = this.group.requireLeader();
    const self = this.group.options.memberId;
    const s = node.status();
    if (to !== undefined) {
      if (to === self) return { previousLeaderId: self, leaderId: self, leaderUrl: this.group.options.advertiseUrl, term: s.term, moved: false };
      if (s.conf.learners.includes(to)) throw new ClusterHttpError(409, 'not_voter', `${this.group.label}${to} is a learner (not yet caught up); only a voter can lead`);
      if (!s.conf.voters.includes(to)) throw new ClusterHttpError(404, 'not_found', `${this.group.label}${to} is not a member`);
    } else if (!s.conf.voters.some((v) => v !== self)) {
      throw new ClusterHttpError(409, 'no_transferee', `${this.group.label}there is no other voter to hand leadership to`);
    }
    try {
      node.transferLeadership(to);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'bad_conf_change') throw new ClusterHttpError(409, 'transfer_refused', err.message);
      throw err;
    }
    const timeoutMs = Math.max(2 * this.group.options.electionTimeout[1], 1000);
    this.group.logger.info(`leadership transfer to ${to ?? 'the most caught-up voter'} started`);
    const moved = await waitUntil(() => node.leader !== null && node.leader !== self, timeoutMs);
    if (moved) {
      const leaderId = node.leader!;
      return { previousLeaderId: self, leaderId, leaderUrl: this.group.memberUrl(leaderId), term: node.status().term, moved: true };
    }
    if (node.isLeader) {
      throw new ClusterHttpError(409, 'transfer_failed', `${this.group.label}leadership did not move within ${timeoutMs} ms (the target may be unreachable or far behind); this node still leads`);
    }
    throw noLeaderError(`${this.group.label}leadership is moving: no leader is known yet; retry shortly`);
  }

  private changeTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.group.options.forwardTimeoutMs;
    return withTimeout(p, ms, () => new ClusterHttpError(504, 'timeout', `${this.group.label}${what}: the configuration change was proposed but not applied within ${ms} ms; check the status`));
  }
}
