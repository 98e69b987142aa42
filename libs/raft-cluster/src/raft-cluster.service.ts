import * as http from 'node:http';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost, ModuleRef } from '@nestjs/core';
import {
  ConfState,
  NodeId,
  NodeStoppedError,
  NotLeaderError,
  ProposalLostError,
  RaftError,
  RaftNode,
  Role,
  StateMachine,
} from '@raft-cqrs/raft';
import { FileStorage, MemoryStorage, RaftStorage } from '@raft-cqrs/raft/storage';
import { createPeerRequestHandler, HttpTransport, mountPeerHandler, PeerRequestHandler } from '@raft-cqrs/raft/transport';
import { Observable, Subject } from 'rxjs';
import { DEFAULT_ROUTES, RAFT_CLUSTER_ROUTES, ResolvedRaftClusterRoutes } from './controllers/routes';
import { memberProofHeaders } from './admin/member-proof';
import { FORWARDED_HEADER, HttpAnswer, httpCall, HttpCallError, jsonBody } from './internal/http-client';
import { InstrumentedStorage } from './internal/instrumented-storage';
import { AdmissionControl, alwaysServedPattern } from './internal/admission';
import { PeerDirectory } from './internal/peer-directory';
import { raftStatusView, RaftStatusView } from './internal/status-view';
import { sleep, withTimeout } from './internal/timing';
export type { ClusterMemberStatus } from './internal/status-view';
import { CqrsReplication, RAFT_CQRS_REPLICATION, StateDigestStatus } from './cqrs/cqrs-replication';
export type { StateDigestStatus } from './cqrs/cqrs-replication';
import { RAFT_CLUSTER_OPTIONS, RAFT_STATE_MACHINE } from './raft-cluster.constants';
import { ClusterHttpError, noLeaderError, RETRY_AFTER_SECONDS } from './raft-cluster.errors';
import { RaftClusterEvent } from './raft-cluster.events';
import { RaftClusterLogger } from './raft-cluster.logger';
import { ProposalResult, RaftClusterMetrics } from './raft-cluster.metrics';
import { MEMBER_ID_PATTERN, normaliseMemberUrl, ResolvedRaftClusterOptions } from './raft-cluster.options';

export interface ClusterStatus extends RaftStatusView {
  /** Replica state digests compared with the leader's (CQRS bridge only; null without it). */
  stateDigest?: StateDigestStatus | null;
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
  removed: true;
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

const encoder = new TextEncoder();

/** A proposal that a leader change took away: not applied. */
function lostToLeaderChange(err: unknown): boolean {
  return classifyProposalError(err) === 'not_leader' || err instanceof ProposalLostError;
}

function classifyProposalError(err: unknown): ProposalResult {
  if (err instanceof NotLeaderError) return 'not_leader';
  if (err instanceof RaftError) return err.code === 'not_leader' ? 'not_leader' : 'dropped';
  if (err instanceof ProposalLostError) return 'lost';
  if (err instanceof NodeStoppedError) return 'stopped';
  return 'error';
}

/**
 * The cluster node of this app: owns the {@link RaftNode}, its storage, transport and peer endpoint;
 * starts it at application bootstrap and hands leadership over at shutdown.
 */
@Injectable()
export class RaftClusterService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private node: RaftNode | null = null;
  private started = false;
  private storage: RaftStorage | null = null;
  private directory: PeerDirectory | null = null;
  private unmount: (() => void) | null = null;
  private peerServer: http.Server | null = null;
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

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) readonly options: ResolvedRaftClusterOptions,
    private readonly moduleRef: ModuleRef,
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: RaftClusterMetrics,
    private readonly logger: RaftClusterLogger,
    @Optional() private readonly appConfig?: ApplicationConfig,
    @Optional() @Inject(RAFT_CLUSTER_ROUTES) private readonly routes: ResolvedRaftClusterRoutes = DEFAULT_ROUTES,
  ) {
    // Before start() has opened the storage the node has no core yet: status() throws and the prefix says "starting".
    logger.bindState(() => (this.node !== null ? { term: this.node.status().term, role: this.node.currentRole } : null));
    metrics.bindSource(() => {
      if (!this.started || this.node === null) return null;
      const s = this.node.status();
      return { term: s.term, role: s.role, commitIndex: s.commit, appliedIndex: s.appliedIndex, snapshotBytes: this.snapshotBytes() };
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async onApplicationBootstrap(): Promise<void> {
    const o = this.options;
    this.cqrs = this.lookUp<CqrsReplication>(RAFT_CQRS_REPLICATION);
    const stateMachine = this.resolveStateMachine();
    const storage = new InstrumentedStorage(this.createStorage(), this.metrics);
    this.storage = storage;
    const transport = new HttpTransport({
      selfId: o.memberId,
      secret: o.secret,
      requestTimeoutMs: o.requestTimeoutMs,
      logger: this.logger,
      onPeerStatus: (id, reachable) => this.onPeerStatus(id, reachable),
    });
    const directory = (this.directory = new PeerDirectory(transport, o.memberId, o.peerPort));
    const node = new RaftNode({
      id: o.memberId,
      initialMembers: o.initialMembers,
      electionTimeoutMs: o.electionTimeout,
      heartbeatMs: o.heartbeatInterval,
      compactionThreshold: o.compactionThreshold,
      storage,
      transport: directory,
      stateMachine,
      logger: this.logger,
    });
    this.node = node;
    node.on('role', (role, term) => this.onRole(role, term));
    node.on('leader', (leaderId, term) => this.onLeader(leaderId, term));
    node.on('conf', (conf) => this.onConf(conf));
    node.on('fatal', (err) => this.logger.error(`the node stopped after a fatal error: ${err.message}`));

    const peerHandler = createPeerRequestHandler({
      secret: o.secret,
      maxBodyBytes: o.maxPeerBodyBytes,
      selfId: o.memberId,
      logger: this.logger,
      onMessages: (msgs) => {
        if (this.started) node.receive(msgs);
      },
      onCommand: async (body) => {
        if (this.cqrs?.stateMachine == null) return { status: 404, body: { error: 'not_found', message: 'this node does not replicate CQRS commands' } };
        if (!this.started) return { status: 503, body: { error: 'not_started', message: 'the node is starting', retry: true } };
        return this.cqrs.receiveForwarded(body);
      },
    });
    const admission = new AdmissionControl({
      alwaysServed: alwaysServedPattern(this.clusterPath(''), this.routes),
      maxInFlight: o.maxInFlightRequests,
      maxQueueDelayMs: o.maxQueueDelayMs,
      onShed: () => this.metrics.shedRequests.inc(),
    });
    this.admission = admission;
    // On the app's own server, every request passes the admission check before Express sees it.
    const handler: PeerRequestHandler = Object.assign(
      (req: http.IncomingMessage, res: http.ServerResponse): boolean => peerHandler(req, res) || (o.peerPort === null && admission.shed(req, res)),
      { closeStreams: () => peerHandler.closeStreams?.() },
    );
    try {
      await this.mountPeerEndpoint(handler);
      if (o.peerPort !== null) this.mountAdmissionOnAppServer(admission);
      await node.start();
      this.started = true;
    } catch (err) {
      await this.releasePeerEndpoint();
      await transport.close().catch(() => undefined);
      await storage.close().catch(() => undefined);
      this.node = null;
      throw err;
    }
    const conf = node.status().conf;
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
    if (o.join !== null && !this.inOwnConfiguration()) {
      this.joining = true;
      void this.joinLoop(o.join);
    }
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.joining = false;
    const node = this.node;
    if (node !== null && this.started) {
      await this.handOverLeadership(node, signal);
      try {
        await node.stop('shutdown');
        this.logger.info('node stopped; storage closed');
      } catch (err) {
        this.logger.error(`stopping the node failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await this.releasePeerEndpoint();
    this.eventsSubject.complete();
  }

  private async handOverLeadership(node: RaftNode, signal?: string): Promise<void> {
    const timeoutMs = this.options.shutdownTransferTimeoutMs;
    if (!node.isLeader || timeoutMs <= 0 || node.stopReason !== null) return;
    const conf = node.status().conf;
    if (!conf.voters.some((v) => v !== this.options.memberId)) return;
    this.logger.info(`shutting down${signal ? ` (${signal})` : ''}: handing leadership over to the most caught-up voter`);
    try {
      node.transferLeadership();
    } catch (err) {
      this.logger.warn(`leadership transfer at shutdown refused: ${(err as Error).message}`);
      return;
    }
    const moved = await this.waitUntil(() => !node.isLeader && node.leader !== null && node.leader !== this.options.memberId, timeoutMs);
    if (moved) this.logger.info(`leadership moved to ${node.leader}; stopping`);
    else this.logger.warn(`leadership did not move within ${timeoutMs} ms; stopping anyway (the others will elect a leader)`);
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

  private createStorage(): RaftStorage {
    const dir = this.options.dataDir;
    if (dir === ':memory:') return new MemoryStorage();
    return new FileStorage(dir, { logger: this.logger.child('storage') });
  }

  /** With `peerPort` the app server has no peer handler in front of Express: the admission check gets its own. */
  private mountAdmissionOnAppServer(admission: AdmissionControl): void {
    const server: unknown = this.adapterHost?.httpAdapter?.getHttpServer?.();
    if (!(server instanceof http.Server)) return;
    const requestTimeout = server.requestTimeout;
    const unmount = mountPeerHandler(server, (req, res) => admission.shed(req, res));
    server.requestTimeout = requestTimeout; // no long-lived peer streams on this server
    const unmountPeer = this.unmount;
    this.unmount = () => {
      unmountPeer?.();
      unmount();
    };
  }

  private async mountPeerEndpoint(handler: PeerRequestHandler): Promise<void> {
    const o = this.options;
    if (o.peerPort === null) {
      const server: unknown = this.adapterHost?.httpAdapter?.getHttpServer?.();
      if (!(server instanceof http.Server)) {
        throw new Error(
          'RaftClusterModule: the peer endpoints need the app\'s node:http server (NestFactory.create on the Express or Fastify platform); for a standalone application context, set the option "peerPort"',
        );
      }
      this.unmount = mountPeerHandler(server, handler);
      return;
    }
    const server = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'not_found', message: 'this port serves the Raft peer endpoints (/raft/*) only' }));
    });
    this.unmount = mountPeerHandler(server, handler);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new Error(`RaftClusterModule: cannot listen on peerPort ${o.peerPort} (${o.peerHost}): ${err.code ?? err.message}`));
      server.once('error', onError);
      server.listen(o.peerPort!, o.peerHost, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.peerServer = server;
  }

  private async releasePeerEndpoint(): Promise<void> {
    this.unmount?.();
    this.unmount = null;
    const server = this.peerServer;
    this.peerServer = null;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  private admission: AdmissionControl | null = null;

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

  private inOwnConfiguration(): boolean {
    const conf = this.node?.status().conf;
    return conf !== undefined && (conf.voters.includes(this.options.memberId) || conf.learners.includes(this.options.memberId));
  }

  /** Asks `join` to add this node, with backoff, until it is added (or the app shuts down). */
  private async joinLoop(join: string): Promise<void> {
    const o = this.options;
    let delay = 100;
    this.logger.info(`joining the cluster through ${join} as ${o.memberId} at ${o.advertiseUrl}`);
    while (this.joining && !this.shuttingDown) {
      if (this.inOwnConfiguration()) {
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

  /** The RaftNode (null before bootstrap); for advanced use and tests. */
  get raftNode(): RaftNode | null {
    return this.node;
  }

  get memberId(): string {
    return this.options.memberId;
  }

  get isLeader(): boolean {
    return this.started && this.node !== null && this.node.isLeader && this.node.stopReason === null;
  }

  get leaderId(): string | null {
    return this.started && this.node !== null ? this.node.leader : null;
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

  /** The URL of a member in the current configuration (or learned while joining); null if unknown. */
  memberUrl(id: string | null): string | null {
    if (id === null) return null;
    if (id === this.options.memberId) return this.options.advertiseUrl;
    const conf = this.started ? this.node?.status().conf : undefined;
    return conf?.addresses[id] ?? null;
  }

  status(): ClusterStatus {
    const node = this.requireNode();
    const view = raftStatusView(node, this.options.memberId, this.options.advertiseUrl, this.directory?.peerStatus() ?? {}, (id) => this.memberUrl(id));
    return { ...view, stateDigest: this.cqrs?.digestStatus() ?? null };
  }

  /** Ready: a leader is known and everything committed that this node knows of is applied. */
  readiness(): Readiness {
    if (!this.started || this.node === null) {
      return { ready: false, reason: 'the cluster node has not started', role: null, leaderId: null, term: null, commitIndex: null, lastApplied: null };
    }
    const s = this.node.status();
    const base = { role: s.role, leaderId: s.leaderId, term: s.term, commitIndex: s.commit, lastApplied: s.appliedIndex };
    if (this.node.stopReason !== null) return { ready: false, reason: `the cluster node stopped (${this.node.stopReason})`, ...base };
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
      return this.storage?.snapshotMeta().size ?? 0;
    } catch {
      return 0;
    }
  }

  // ---------------------------------------------------------------- commands

  /**
   * Proposes `data` (strings are UTF-8 encoded) on this node, which must be the leader; resolves with
   * the state machine's result once the entry is committed and applied here (rejects with its error).
   * Throws `NotLeaderError` on a follower (this method does not forward).
   */
  async propose(data: Uint8Array | string): Promise<{ index: number; result: unknown }> {
    const node = this.requireNode();
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    const end = this.metrics.appendLatency.startTimer();
    try {
      const r = await node.propose(bytes);
      end();
      this.metrics.proposals.inc({ result: 'ok' });
      return r;
    } catch (err) {
      const result = classifyProposalError(err);
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
  readBarrier(timeoutMs = Math.max(2 * this.options.electionTimeout[1], 500)): Promise<number> {
    const node = this.requireNode();
    return withTimeout(
      node.readBarrier(),
      timeoutMs,
      () => new ClusterHttpError(503, 'read_timeout', `the leader did not confirm a read barrier within ${timeoutMs} ms`, {}, { 'Retry-After': RETRY_AFTER_SECONDS }),
    );
  }

  /**
   * Adds a member as a learner (on the leader; throws `NotLeaderError` elsewhere); the leader promotes
   * it to voter once it has caught up. Idempotent: a member already there with the same URL is answered
   * with `added: false`.
   */
  async addMember(id: string, url: string): Promise<AddMemberResult> {
    if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) {
      throw new ClusterHttpError(400, 'bad_request', 'field "id" must be 1-64 characters of letters, digits, ".", "_" or "-"', { field: 'id' });
    }
    const u = normaliseMemberUrl(url);
    if ('problem' in u) throw new ClusterHttpError(400, 'bad_request', `field "url" ${u.problem}`, { field: 'url' });
    const node = this.requireLeader();
    const deadline = Date.now() + this.options.forwardTimeoutMs;
    for (;;) {
      const conf = node.status().conf;
      const existing = conf.addresses[id];
      if (conf.voters.includes(id) || conf.learners.includes(id)) {
        if (existing === u.url) return { id, url: u.url, voter: conf.voters.includes(id), index: null, added: false, members: { ...conf.addresses } };
        throw new ClusterHttpError(409, 'member_conflict', `member ${id} is already in the cluster with URL ${existing ?? '(none)'}; remove it first to change its URL`);
      }
      const other = Object.entries(conf.addresses).find(([mid, murl]) => murl === u.url && mid !== id);
      if (other !== undefined) throw new ClusterHttpError(409, 'url_conflict', `URL ${u.url} already belongs to member ${other[0]}`);
      try {
        const { index } = await this.withChangeTimeout(node.changeMembership({ type: 'addLearner', id, address: u.url }), `adding ${id}`);
        this.logger.info(`added ${id} (${u.url}) as a learner at index ${index}`);
        return { id, url: u.url, voter: false, index, added: true, members: { ...node.status().conf.addresses } };
      } catch (err) {
        if (await this.leadsAfterLosingChange(err, deadline)) continue;
        if (this.lostToAnotherLeader(err)) return this.memberChangeAtLeader<AddMemberResult>('POST', this.membersPath(), { id, url: u.url });
        if (!(err instanceof RaftError && err.code === 'conf_change_pending') || Date.now() >= deadline) throw err;
        await sleep(20);
        this.requireLeader();
      }
    }
  }

  /**
   * Removes a member (on the leader; throws `NotLeaderError` elsewhere). When the leader removes itself it
   * hands leadership to the most caught-up voter first, then sends the removal to the new leader.
   */
  async removeMember(id: string): Promise<RemoveMemberResult> {
    const node = this.requireLeader();
    const conf = node.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      throw new ClusterHttpError(404, 'not_found', `${id} is not a member of the cluster`);
    }
    if (id === this.options.memberId) {
      if (!conf.voters.some((v) => v !== id)) {
        throw new ClusterHttpError(409, 'last_voter', `${id} is the only voter; a cluster cannot remove its last voter`);
      }
      const moved = await this.transferLeadership();
      const answer = await this.memberChangeAtLeader<RemoveMemberResult>('DELETE', this.membersPath(id));
      return { id, removed: true, index: answer.index ?? null, handedOverTo: moved.leaderId };
    }
    const deadline = Date.now() + this.options.forwardTimeoutMs;
    for (;;) {
      try {
        const { index } = await this.withChangeTimeout(node.changeMembership({ type: 'remove', id }), `removing ${id}`);
        this.logger.info(`removed ${id} at index ${index}`);
        return { id, removed: true, index };
      } catch (err) {
        if (await this.leadsAfterLosingChange(err, deadline)) continue;
        if (this.lostToAnotherLeader(err)) return this.memberChangeAtLeader<RemoveMemberResult>('DELETE', this.membersPath(id));
        if (!(err instanceof RaftError && err.code === 'conf_change_pending') || Date.now() >= deadline) throw err;
        await sleep(20);
        const c = this.requireLeader().status().conf;
        if (!c.voters.includes(id) && !c.learners.includes(id)) return { id, removed: true, index: null };
      }
    }
  }

  /**
   * A membership change lost to a leader change (its entry replaced, or leadership gone before it
   * committed) was not applied, and changes are idempotent: once a leader is known, true when it is
   * this node again (retry here); otherwise `lostToAnotherLeader` says to send it to that leader.
   */
  private async leadsAfterLosingChange(err: unknown, deadline: number): Promise<boolean> {
    if (!lostToLeaderChange(err) || Date.now() >= deadline) return false;
    if (!(await this.waitUntil(() => this.leaderId !== null, deadline - Date.now()))) return false;
    if (this.leaderId !== this.options.memberId) return false;
    this.logger.info('a membership change was lost to a leader change and this node leads again: retrying it');
    return true;
  }

  private lostToAnotherLeader(err: unknown): boolean {
    return lostToLeaderChange(err) && this.leaderId !== null && this.leaderId !== this.options.memberId;
  }

  /** Sends a membership change to the leader (another node) and returns its answer, or throws it as an error. */
  private async memberChangeAtLeader<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const answer = await this.forwardToLeader(method, path, body);
    const json = jsonBody(answer) as (Partial<T> & { error?: string; message?: string }) | null;
    if (answer.status >= 300) {
      throw new ClusterHttpError(answer.status, json?.error ?? 'forward_failed', json?.message ?? `the leader ${this.leaderId ?? '(unknown)'} answered ${answer.status}`);
    }
    return json as T;
  }

  /**
   * Moves leadership (on the leader; throws `NotLeaderError` elsewhere) to `to`, or to the most caught-up
   * voter, and resolves once another node leads (409 `transfer_failed` when it did not move in time).
   */
  async transferLeadership(to?: string): Promise<TransferResult> {
    const node = this.requireLeader();
    const self = this.options.memberId;
    const s = node.status();
    if (to !== undefined) {
      if (to === self) return { previousLeaderId: self, leaderId: self, leaderUrl: this.options.advertiseUrl, term: s.term, moved: false };
      if (s.conf.learners.includes(to)) throw new ClusterHttpError(409, 'not_voter', `${to} is a learner (not yet caught up); only a voter can lead`);
      if (!s.conf.voters.includes(to)) throw new ClusterHttpError(404, 'not_found', `${to} is not a member of the cluster`);
    } else if (!s.conf.voters.some((v) => v !== self)) {
      throw new ClusterHttpError(409, 'no_transferee', 'there is no other voter to hand leadership to');
    }
    try {
      node.transferLeadership(to);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'bad_conf_change') throw new ClusterHttpError(409, 'transfer_refused', err.message);
      throw err;
    }
    const timeoutMs = Math.max(2 * this.options.electionTimeout[1], 1000);
    this.logger.info(`leadership transfer to ${to ?? 'the most caught-up voter'} started`);
    const moved = await this.waitUntil(() => node.leader !== null && node.leader !== self, timeoutMs);
    if (moved) {
      const leaderId = node.leader!;
      return { previousLeaderId: self, leaderId, leaderUrl: this.memberUrl(leaderId), term: node.status().term, moved: true };
    }
    if (node.isLeader) {
      throw new ClusterHttpError(409, 'transfer_failed', `leadership did not move within ${timeoutMs} ms (the target may be unreachable or far behind); this node still leads`);
    }
    throw noLeaderError('leadership is moving: no leader is known yet; retry shortly');
  }

  // ---------------------------------------------------------------- forwarding

  /**
   * Sends a cluster request to the leader on a client's behalf (marked `x-raft-forwarded: 1`, so the
   * leader never forwards it again) and returns its answer. 503 when no leader is known.
   */
  async forwardToLeader(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    // A connection that failed before any answer is retried (at the leader of that moment) when repeating
    // the request is harmless: idempotent methods, requests with an idempotency key, and the cluster's own
    // membership and transfer requests (they check what is already done).
    const hasKey = Object.keys(headers).some((h) => this.options.idempotencyHeaders.includes(h.toLowerCase()));
    const retrySafe = method !== 'POST' && method !== 'PATCH' ? true : hasKey || /\/cluster\/(members|leadership-transfer)(\/|$|\?)/.test(path);
    const attempts = retrySafe ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      const leaderId = this.leaderId;
      const url = this.memberUrl(leaderId);
      if (leaderId === null || url === null || leaderId === this.options.memberId) throw noLeaderError();
      this.metrics.forwardedRequests.inc();
      try {
        return await httpCall(url, {
          method,
          path,
          body,
          headers: { ...headers, ...memberProofHeaders(this.options.secret, method, path, body), [FORWARDED_HEADER]: '1' },
          timeoutMs: this.options.forwardTimeoutMs + 1000,
        });
      } catch (err) {
        const m = err instanceof Error ? err.message : String(err);
        if (err instanceof HttpCallError && err.kind === 'timeout') throw new ClusterHttpError(504, 'leader_timeout', `the leader ${leaderId} did not answer: ${m}`);
        if (attempt >= attempts) {
          throw new ClusterHttpError(503, 'leader_unreachable', `the leader ${leaderId} could not be reached: ${m}`, { leaderId, leaderUrl: url }, { 'Retry-After': RETRY_AFTER_SECONDS });
        }
        await sleep(50 * 3 ** (attempt - 1));
      }
    }
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



  // ---------------------------------------------------------------- helpers

  private requireNode(): RaftNode {
    if (!this.started || this.node === null) {
      throw new ClusterHttpError(503, 'not_started', 'the cluster node has not started yet (it starts at application bootstrap)', {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    return this.node;
  }

  private requireLeader(): RaftNode {
    const node = this.requireNode();
    if (node.stopReason !== null) throw new NodeStoppedError(node.stopReason);
    if (!node.isLeader) throw new NotLeaderError(node.leader === this.options.memberId ? null : node.leader);
    return node;
  }

  private withChangeTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.options.forwardTimeoutMs;
    return withTimeout(
      p,
      ms,
      () => new ClusterHttpError(504, 'timeout', `${what}: the configuration change was proposed but not applied within ${ms} ms; check GET /cluster/status`),
    );
  }

  private async waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() >= deadline) return false;
      await sleep(5);
    }
    return true;
  }
}
