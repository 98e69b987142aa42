import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { ConfState, NodeId, RaftNode, Role, StateMachine } from '@raft-cqrs/raft';
import { Observable, Subject } from 'rxjs';
import { DEFAULT_ROUTES, RAFT_CLUSTER_ROUTES, ResolvedRaftClusterRoutes } from './controllers/routes';
import { memberProofHeaders } from './admin/member-proof';
import { CqrsReplication, RAFT_CQRS_REPLICATION, StateDigestStatus } from './cqrs/cqrs-replication';
import { AddMemberResult, RaftGroup, RemoveMemberResult, TransferResult } from './groups/raft-group';
import { HttpAnswer, httpCall, HttpCallError, jsonBody } from './internal/http-client';
import { AdmissionControl, alwaysServedPattern } from './internal/admission';
import { PeerDirectory } from './internal/peer-directory';
import { PeerEndpoint } from './internal/peer-endpoint';
import { RaftStatusView } from './internal/status-view';
import { sleep } from './internal/timing';
import { RAFT_CLUSTER_OPTIONS, RAFT_STATE_MACHINE } from './raft-cluster.constants';
import { ClusterHttpError, proposalOutcome, RETRY_AFTER_SECONDS } from './raft-cluster.errors';
import { RaftClusterEvent } from './raft-cluster.events';
import { RaftClusterLogger } from './raft-cluster.logger';
import { RaftClusterMetrics } from './raft-cluster.metrics';
import { ResolvedRaftClusterOptions } from './raft-cluster.options';
export type { ClusterMemberStatus } from './internal/status-view';
export type { StateDigestStatus } from './cqrs/cqrs-replication';
import type { ProcessorStatus } from './processors/processor-runner';
export type { AddMemberResult, RemoveMemberResult, TransferResult } from './groups/raft-group';

export interface ClusterStatus extends RaftStatusView {
  /** Replica state digests compared with the leader's (CQRS bridge only; null without it). */
  stateDigest?: StateDigestStatus | null;
  /** The app's event processors on this node: checkpoint, lag, failures (only when it has some). */
  processors?: ProcessorStatus[];
}

export interface Readiness {
  ready: boolean;
  /** Why the node is not ready (absent when ready). */
  reason?: string;
  role: Role | null;
  leaderId: string | null;
  term: number | null;
  commitIndex: number | null;
  lastApplied: number | null;
}

const encoder = new TextEncoder();

/**
 * The cluster node of this app: owns the {@link RaftNode}, its storage, transport and peer endpoint;
 * starts it at application bootstrap and hands leadership over at shutdown.
 */
@Injectable()
export class RaftClusterService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private main: RaftGroup | null = null;
  private directory: PeerDirectory | null = null;
  private admission: AdmissionControl | null = null;
  private endpoint: PeerEndpoint | null = null;
  private joining = false;
  private shuttingDown = false;
  private lastConf: ConfState | null = null;
  private lastLeader: NodeId | null = null;
  private lastRole: Role = 'follower';
  private readonly eventsSubject = new Subject<RaftClusterEvent>();
  /** The CQRS side, looked up at bootstrap: it depends on this service, so it cannot be a constructor argument. */
  private cqrs: CqrsReplication | null = null;

  /** Cluster events of this node (leader and role changes, membership, reachability). Completes at shutdown. */
  readonly events$: Observable<RaftClusterEvent> = this.eventsSubject.asObservable();
  private readonly appliedSubject = new Subject<number>();
  /**
   * This node's applied index each time its state machine moves on: after every entry of the main group
   * it applies, and after it installs a snapshot from the leader. Emitted during apply: a listener that
   * reads state should defer its work (live queries do, once per event-loop turn). Completes at shutdown.
   */
  readonly applied$: Observable<number> = this.appliedSubject.asObservable();

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) readonly options: ResolvedRaftClusterOptions,
    private readonly moduleRef: ModuleRef,
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: RaftClusterMetrics,
    private readonly logger: RaftClusterLogger,
    @Optional() private readonly appConfig?: ApplicationConfig,
    @Optional() @Inject(RAFT_CLUSTER_ROUTES) private readonly routes: ResolvedRaftClusterRoutes = DEFAULT_ROUTES,
  ) {
    metrics.bindSource(() => {
      const node = this.main?.isStarted ? this.main.node : null;
      if (node === null) return null;
      const s = node.status();
      return { term: s.term, role: s.role, commitIndex: s.commit, appliedIndex: s.appliedIndex, snapshotBytes: this.snapshotBytes() };
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async onApplicationBootstrap(): Promise<void> {
    const o = this.options;
    this.cqrs = this.lookUp<CqrsReplication>(RAFT_CQRS_REPLICATION);
    const main = RaftGroup.assemble({
      name: 'main',
      options: o,
      storageDir: o.dataDir,
      initialMembers: o.initialMembers,
      stateMachine: this.resolveStateMachine(),
      peerSecret: o.secret,
      peers: (transport) => (this.directory = new PeerDirectory(transport, o.memberId, o.peerPort)),
      logger: this.logger,
      metrics: this.metrics,
      onPeerStatus: (id, reachable) => this.onPeerStatus(id, reachable),
      onCommand: async (body) => {
        if (this.cqrs?.stateMachine == null) return { status: 404, body: { error: 'not_found', message: 'this node does not replicate CQRS commands' } };
        if (!this.main?.isStarted) return { status: 503, body: { error: 'not_started', message: 'the node is starting', retry: true } };
        return this.cqrs.receiveForwarded(body);
      },
      membershipPath: (id) => this.membersPath(id),
    });
    this.main = main;
    main.node.on('role', (role, term) => this.onRole(role, term));
    main.node.on('leader', (leaderId, term) => this.onLeader(leaderId, term));
    main.node.on('conf', (conf) => this.onConf(conf));
    main.node.on('applied', (index) => this.appliedSubject.next(index));

    const admission = new AdmissionControl({
      alwaysServed: alwaysServedPattern(this.clusterPath(''), this.routes),
      maxInFlight: o.maxInFlightRequests,
      maxQueueDelayMs: o.maxQueueDelayMs,
      onShed: () => this.metrics.shedRequests.inc(),
    });
    this.admission = admission;
    const endpoint = (this.endpoint = new PeerEndpoint(this.adapterHost?.httpAdapter?.getHttpServer?.(), o));
    try {
      await endpoint.open(main.handler, admission);
      await main.start();
    } catch (err) {
      await endpoint.close();
      await main.node.stop('start failed').catch(() => undefined);
      this.main = null;
      throw err;
    }
    const conf = main.node.status().conf;
    this.lastConf = conf;
    const platform = this.adapterHost?.httpAdapter?.getType?.();
    this.logger.info(
      `cluster node up: ${conf.voters.length} voter(s), ${conf.learners.length} learner(s)${platform !== undefined ? ` on ${platform}` : ''}; peer endpoint ${o.peerPort === null ? 'on the app server' : `on port ${o.peerPort}`}${o.secret === null ? ' (insecure: peer requests are not authenticated)' : ''}`,
    );
    if (o.secret !== null && o.secret.length < 16) {
      this.logger.warn(`the cluster secret is only ${o.secret.length} characters long: use at least 16 random characters (for example: openssl rand -hex 24)`);
    }
    if (o.adminToken === null && o.adminGuard === null) {
      this.logger.warn('no cluster secret and no adminToken: anyone who reaches this node can change membership and leadership (set adminToken, or a secret)');
    }
    if (o.join !== null && !main.isMember) {
      this.joining = true;
      void this.joinLoop(o.join);
    }
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.joining = false;
    const main = this.main;
    // While this node still leads, its `once` processors write their last checkpoints to the log.
    await this.cqrs?.stopProcessors().catch((err: unknown) => this.logger.warn(`stopping the event processors: ${(err as Error).message}`));
    if (main !== null && main.isStarted) {
      try {
        await main.stop(signal);
        this.logger.info('node stopped; storage closed');
      } catch (err) {
        this.logger.error(`stopping the node failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await this.endpoint?.close();
    this.eventsSubject.complete();
    this.appliedSubject.complete();
  }

  private resolveStateMachine(): StateMachine {
    // Without a state machine of its own, an app on @nestjs/cqrs gets the CQRS bridge's.
    const sm: unknown = this.lookUp<unknown>(RAFT_STATE_MACHINE) ?? this.cqrs?.stateMachine ?? undefined;
    const ok = sm !== null && typeof sm === 'object' && ['apply', 'snapshot', 'restore'].every((m) => typeof (sm as Record<string, unknown>)[m] === 'function');
    if (!ok) {
      throw new Error(
        `RaftClusterModule: no state machine. Import CqrsModule.forRoot() (commands marked @Replicated then go through the log), or provide one under the RAFT_STATE_MACHINE token, e.g. providers: [MyStateMachine, { provide: RAFT_STATE_MACHINE, useExisting: MyStateMachine }], implementing apply(entry, ctx), snapshot() and restore(data)${sm === undefined ? '' : ' (the provider found does not have these methods)'}`,
      );
    }
    return sm as StateMachine;
  }

  private lookUp<T>(token: string | symbol): T | null {
    try {
      return this.moduleRef.get<T>(token, { strict: false });
    } catch {
      return null;
    }
  }

  /** Requests in progress on this node's app server (those past the admission check). */
  get requestsInFlight(): number {
    return this.admission?.size ?? 0;
  }

  /**
   * Applies `@Replicated` commands in one log entry, all or nothing: if a handler throws, every
   * `@ReplicatedState` store is put back as it was before the batch, on every node, and the call
   * rejects with that error. Resolves with the handlers' results, in order. Needs CqrsModule.
   */
  executeAll(commands: object[]): Promise<unknown[]> {
    if (this.cqrs?.stateMachine == null) throw new Error('executeAll needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule');
    return this.cqrs.executeAll(commands);
  }

  // ---------------------------------------------------------------- joining

  /** Asks `join` to add this node, with backoff, until it is added (or the app shuts down). */
  private async joinLoop(join: string): Promise<void> {
    const o = this.options;
    let delay = 100;
    this.logger.info(`joining the cluster through ${join} as ${o.memberId} at ${o.advertiseUrl}`);
    while (this.joining && !this.shuttingDown) {
      if (this.main?.isMember) {
        this.logger.info('joined: this node is in the configuration');
        break;
      }
      try {
        const path = this.membersPath();
        const body = { id: o.memberId, url: o.advertiseUrl };
        const answer = await httpCall(join, {
          method: 'POST',
          path,
          body,
          headers: memberProofHeaders(o.secret, 'POST', path, body),
          timeoutMs: o.forwardTimeoutMs + 2000,
        });
        const reply = jsonBody(answer) as { error?: string; message?: string; members?: Record<string, string> } | null;
        if (answer.status === 200 || answer.status === 201) {
          if (reply?.members !== undefined && typeof reply.members === 'object') this.directory?.addHints(reply.members);
          this.logger.info(`join accepted by the cluster (${answer.status}): learner until caught up, then voter`);
          break;
        }
        const why = `${answer.status} ${reply?.error ?? ''}${reply?.message ? `: ${reply.message}` : ''}`;
        if (answer.status === 400 || answer.status === 401 || (answer.status === 409 && (reply?.error === 'member_conflict' || reply?.error === 'url_conflict'))) {
          this.logger.error(`join refused by ${join} (${why}); not retrying: fix the configuration and restart`);
          break;
        }
        this.logger.warn(`join through ${join} not done yet (${why}); retrying in ${delay} ms`);
      } catch (err) {
        this.logger.warn(`join through ${join} failed (${err instanceof HttpCallError ? err.message : String(err)}); retrying in ${delay} ms`);
      }
      await sleep(delay * (0.75 + Math.random() * 0.5));
      delay = Math.min(delay * 2, 2000);
    }
    this.joining = false;
  }

  // ---------------------------------------------------------------- events

  private onRole(role: Role, term: number): void {
    const previous = this.lastRole;
    this.lastRole = role;
    // An election this node won at once (a single voter) shows up as leader without a candidate step.
    if (role === 'candidate' || (role === 'leader' && previous !== 'candidate')) this.metrics.elections.inc();
    this.eventsSubject.next({ type: 'role-changed', role, previousRole: previous, term });
  }

  private onLeader(leaderId: NodeId | null, term: number): void {
    const previous = this.lastLeader;
    this.lastLeader = leaderId;
    if (leaderId !== null && leaderId !== previous) this.metrics.leaderChanges.inc();
    if (leaderId !== null) this.logger.info(`leader is ${leaderId === this.options.memberId ? 'this node' : leaderId} in term ${term}`);
    this.eventsSubject.next({ type: 'leader-changed', leaderId, previousLeaderId: previous, leaderUrl: this.memberUrl(leaderId), term });
  }

  private onConf(conf: ConfState): void {
    const before = this.lastConf;
    this.lastConf = conf;
    if (before === null) return; // the configuration at start is the baseline
    const members = (c: ConfState): Map<string, boolean> => new Map([...c.voters.map((v) => [v, true] as const), ...c.learners.map((l) => [l, false] as const)]);
    const was = members(before);
    const now = members(conf);
    for (const [id, voter] of now) {
      const url = conf.addresses[id] ?? null;
      if (!was.has(id)) {
        this.logger.info(`member ${id} (${url ?? 'no url'}) added as ${voter ? 'voter' : 'learner'}`);
        this.eventsSubject.next({ type: 'member-added', id, url, voter });
      } else if (voter && was.get(id) === false) {
        this.logger.info(`member ${id} promoted to voter`);
        this.eventsSubject.next({ type: 'member-promoted', id, url });
      }
    }
    for (const id of was.keys()) {
      if (!now.has(id)) {
        const url = before.addresses[id] ?? null;
        this.logger.info(`member ${id} removed`);
        this.eventsSubject.next({ type: 'member-removed', id, url });
      }
    }
  }

  private onPeerStatus(id: string, reachable: boolean): void {
    this.eventsSubject.next({ type: reachable ? 'member-reachable' : 'member-unreachable', id, url: this.memberUrl(id) });
  }

  // ---------------------------------------------------------------- state

  /** The main Raft group (null before bootstrap). */
  get group(): RaftGroup | null {
    return this.main;
  }

  /** The RaftNode of the main group (null before bootstrap); for advanced use and tests. */
  get raftNode(): RaftNode | null {
    return this.main?.node ?? null;
  }

  get memberId(): string {
    return this.options.memberId;
  }

  /** The last log index this node's state machine reflects (0 before bootstrap). */
  get appliedIndex(): number {
    return this.main?.node.applied ?? 0;
  }

  get isLeader(): boolean {
    return this.main?.isLeader ?? false;
  }

  get leaderId(): string | null {
    return this.main?.leaderId ?? null;
  }

  get leaderUrl(): string | null {
    return this.memberUrl(this.leaderId);
  }

  /** Where the leader's peer endpoints (`/raft/*`) are reached; null when no other node is known to lead. */
  leaderPeerUrl(): string | null {
    const id = this.leaderId;
    if (id === null || id === this.options.memberId) return null;
    const url = this.memberUrl(id);
    return url === null ? null : (this.directory?.peerUrl(url) ?? url);
  }

  /** The URL of a member in the current configuration; null if unknown. */
  memberUrl(id: string | null): string | null {
    if (id === this.options.memberId) return this.options.advertiseUrl;
    return this.main?.memberUrl(id) ?? null;
  }

  status(): ClusterStatus {
    const { group: _main, ...view } = this.requireGroup().status();
    const processors = this.cqrs?.processorStatus() ?? [];
    return { ...view, stateDigest: this.cqrs?.digestStatus() ?? null, ...(processors.length > 0 ? { processors } : {}) };
  }

  /** Ready: a leader is known and everything committed that this node knows of is applied. */
  readiness(): Readiness {
    const main = this.main;
    if (main === null || (!main.isStarted && main.node.stopReason === null)) {
      return { ready: false, reason: 'the cluster node has not started', role: null, leaderId: null, term: null, commitIndex: null, lastApplied: null };
    }
    const node = main.node;
    const s = node.status();
    const base = { role: s.role, leaderId: s.leaderId, term: s.term, commitIndex: s.commit, lastApplied: s.appliedIndex };
    if (node.stopReason !== null) return { ready: false, reason: `the cluster node stopped (${node.stopReason})`, ...base };
    if (s.leaderId === null) return { ready: false, reason: 'no leader is known', ...base };
    if (s.appliedIndex < s.commit) return { ready: false, reason: `applying the log: ${s.appliedIndex} of ${s.commit} applied`, ...base };
    const diverged = this.cqrs?.digestStatus()?.lastMismatch ?? null;
    if (diverged !== null) {
      const which = diverged.stores.length > 0 ? `: ${diverged.stores.join(', ')}` : '';
      return { ready: false, reason: `this replica's state diverged from the leader's after entry ${diverged.index}${which} (see stateDigest in /cluster/status)`, ...base };
    }
    return { ready: true, ...base };
  }

  private snapshotBytes(): number {
    try {
      return this.main?.storage.snapshotMeta().size ?? 0;
    } catch {
      return 0;
    }
  }

  // ---------------------------------------------------------------- the main group

  /**
   * Proposes `data` (strings are UTF-8 encoded) on this node, which must be the leader; resolves with
   * the state machine's result once the entry is committed and applied here (rejects with its error).
   * Throws `NotLeaderError` on a follower (this method does not forward).
   */
  async propose(data: Uint8Array | string): Promise<{ index: number; result: unknown }> {
    const main = this.requireGroup();
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    const end = this.metrics.appendLatency.startTimer();
    try {
      const r = await main.propose(bytes);
      end();
      this.metrics.proposals.inc({ result: 'ok' });
      return r;
    } catch (err) {
      const result = proposalOutcome(err);
      if (result === 'error') end(); // committed and applied: the handler's error is the outcome
      this.metrics.proposals.inc({ result });
      throw err;
    }
  }

  /**
   * Resolves once this node's state machine reflects every write committed before the call (ReadIndex,
   * through the leader). Rejects with `NotLeaderError` when no leader is known, and with a 503
   * `ClusterHttpError` when the leader does not confirm within `timeoutMs` (default 2 election timeouts).
   */
  readBarrier(timeoutMs?: number): Promise<number> {
    return this.requireGroup().readBarrier(timeoutMs);
  }

  /**
   * Adds a member as a learner (on the leader; throws `NotLeaderError` elsewhere); the leader promotes
   * it to voter once it has caught up. Idempotent: a member already there with the same URL is answered
   * with `added: false`.
   */
  addMember(id: string, url: string): Promise<AddMemberResult> {
    return this.requireGroup().addMember(id, url);
  }

  /**
   * Removes a member (on the leader; throws `NotLeaderError` elsewhere; 404 when it is not one). When the
   * leader removes itself it hands leadership to the most caught-up voter first, then sends the removal
   * to the new leader.
   */
  async removeMember(id: string): Promise<RemoveMemberResult> {
    const main = this.requireGroup();
    const conf = main.requireLeader().status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      throw new ClusterHttpError(404, 'not_found', `${id} is not a member of the cluster`);
    }
    return main.removeMember(id);
  }

  /**
   * Moves leadership (on the leader; throws `NotLeaderError` elsewhere) to `to`, or to the most caught-up
   * voter, and resolves once another node leads (409 `transfer_failed` when it did not move in time).
   */
  transferLeadership(to?: string): Promise<TransferResult> {
    return this.requireGroup().transferLeadership(to);
  }

  /**
   * Sends a cluster request to the leader on a client's behalf (marked `x-raft-forwarded: 1`, so the
   * leader never forwards it again) and returns its answer. 503 when no leader is known.
   */
  forwardToLeader(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    return this.requireGroup().forwardToLeader(method, path, body, headers);
  }

  /** `path` under the app's global prefix, if it has one. */
  clusterPath(path: string): string {
    const prefix = (this.appConfig?.getGlobalPrefix() ?? '').replace(/^\/+|\/+$/g, '');
    return prefix === '' ? path : `/${prefix}${path}`;
  }

  /** Where the membership route is (`/cluster/members[/id]` unless `routes.cluster` moved it), under the global prefix. */
  membersPath(id?: string): string {
    if (this.routes.cluster === null) {
      throw new ClusterHttpError(404, 'routes_off', 'the cluster routes are turned off (routes.cluster: false): membership changes go through RaftClusterService on the leader');
    }
    return this.clusterPath(`/${this.routes.cluster}/members${id === undefined ? '' : `/${encodeURIComponent(id)}`}`);
  }

  /** The main group once started; 503 before. */
  private requireGroup(): RaftGroup {
    const main = this.main;
    if (main === null) {
      throw new ClusterHttpError(503, 'not_started', 'the cluster node has not started yet (it starts at application bootstrap)', {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    main.requireNode();
    return main;
  }
}
