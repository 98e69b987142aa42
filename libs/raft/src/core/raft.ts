import { applyConfChange, decodeConfEntry, encodeConfEntry, isMember } from './conf';
import { RaftLog } from './log';
import { IncomingSnapshot } from './incoming-snapshot';
import { isQuorum, Progress, quorumIndex } from './progress';
import { ReadOnlyRequests } from './read-only';
import {
  AppendRequest,
  AppendResponse,
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  RaftError,
  ReadIndexRequest,
  ReadIndexResponse,
  ReadState,
  Ready,
  Role,
  SnapshotChunk,
  SnapshotChunkWrite,
  SnapshotMeta,
  SnapshotResponse,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types';
import { VoteTally } from './vote-tally';

export interface RaftConfig {
  id: NodeId;
  /** Election timeout in ticks, drawn uniformly from [min, max] at every reset. */
  electionTicks: [number, number];
  heartbeatTicks: number;
  /** Random source in [0, 1); seeded in the simulator. */
  random: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Appends in flight per follower in replicate state. */
  maxInflight?: number;
  /** Payload bytes per append message (at least one entry is always sent). */
  maxAppendBytes?: number;
  snapshotChunkSize?: number;
  /** Promote learners to voters once they have caught up with the commit index. */
  autoPromote?: boolean;
  /** Proposals are refused while more than this many entries are uncommitted. */
  maxUncommittedEntries?: number;
  /** Pending linearizable reads on a leader; further ones fail at once. */
  maxPendingReads?: number;
}

/** What a node had persisted; an empty node starts from a snapshot at index 0 holding the initial members. */
export interface PersistentState {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
}

export interface ProgressStatus {
  id: NodeId;
  match: number;
  next: number;
  state: string;
  learner: boolean;
  ticksSinceContact: number;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commit: number;
  /** Highest index handed out for apply; what the state machine has applied is the driver's to know. */
  applying: number;
  lastIndex: number;
  snapshotIndex: number;
  conf: ConfState;
  progress: ProgressStatus[];
  leadTransferee: NodeId | null;
}

/** Message types that may be sent before this node's pending writes are durable. */
const SEND_BEFORE_PERSIST = new Set<Message['type']>([
  'append',
  'heartbeat',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-resp',
  'pre-vote',
]);

/**
 * The Raft consensus algorithm as a deterministic state machine: no I/O, no timers, no clock.
 * Feed it `tick()`, `step(message)`, `propose(...)`, `readIndex(...)`; collect work with `ready()`;
 * acknowledge each Ready's write with `advance(ready)` once it is durable. Several Readies may be
 * in flight (pipelined writes): each hands out only what the earlier ones did not.
 */
export class RaftCore {
  readonly id: NodeId;
  term: number;
  vote: NodeId | null;
  role: Role = 'follower';
  leaderId: NodeId | null = null;
  readonly log: RaftLog;
  /** The latest configuration in the log (committed or not), as the Raft thesis prescribes. */
  conf: ConfState;
  /** Index of the entry that set `conf`; the snapshot index when it came from the snapshot. */
  confIndex: number;

  private readonly cfg: Required<RaftConfig>;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new VoteTally();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  private transferElapsed = 0;

  private readonly reads: ReadOnlyRequests;
  private readonly incomingSnapshot = new IncomingSnapshot();

  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  private snapshotChunks: SnapshotChunkWrite[] = [];
  private snapshotToInstall: SnapshotMeta | null = null;
  private appendWanted = false;
  private prevHardState: HardState;
  private prevSoftState: SoftState;

  constructor(config: RaftConfig, state: PersistentState) {
    this.cfg = {
      preVote: true,
      checkQuorum: true,
      maxInflight: 256,
      maxAppendBytes: 1 << 20,
      snapshotChunkSize: 1 << 20,
      autoPromote: true,
      maxUncommittedEntries: 50_000,
      maxPendingReads: 10_000,
      ...config,
    };
    const [lo, hi] = this.cfg.electionTicks;
    if (!(lo >= 1 && hi >= lo)) throw new Error(`electionTicks must be [min, max] with 1 <= min <= max`);
    if (!(this.cfg.heartbeatTicks >= 1 && this.cfg.heartbeatTicks < lo)) {
      throw new Error('heartbeatTicks must be at least 1 and below the minimum election timeout');
    }
    this.id = config.id;
    this.reads = new ReadOnlyRequests(this.id, this.cfg.maxPendingReads);
    this.log = new RaftLog(state.snapshot, state.entries, state.hardState.commit);
    this.term = state.hardState.term;
    this.vote = state.hardState.vote;
    this.conf = state.snapshot.conf;
    this.confIndex = state.snapshot.index;
    this.recomputeConf();
    this.prevHardState = this.hardState();
    this.prevSoftState = { role: this.role, leaderId: this.leaderId };
    this.resetElectionTimeout();
  }

  // ---------------------------------------------------------------- public API

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commit };
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.conf.voters.includes(id);
  }

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Appends a command to the log; returns where it was placed. Throws {@link RaftError} when not leader. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    return this.appendEntry(EntryType.Normal, data);
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (this.confIndex > this.log.commit) {
      throw new RaftError('conf_change_pending', 'a configuration change is still uncommitted');
    }
    if (this.log.term(this.log.commit) !== this.term) {
      throw new RaftError('conf_change_pending', 'the leader has not yet committed an entry in its term');
    }
    const conf = applyConfChange(this.conf, change);
    const pos = this.appendEntry(EntryType.ConfChange, encodeConfEntry({ change, conf }));
    this.setConf(conf, pos.index);
    return pos;
  }

  /**
   * Asks for a linearizable read. A {@link ReadState} with the same id comes out of `ready()`: serve the
   * read once the state machine has applied its index (or retry when the index is -1).
   */
  readIndex(requestId: number): void {
    if (this.role === 'leader') {
      this.handleReadRequest(this.id, requestId);
    } else if (this.leaderId !== null) {
      this.send<ReadIndexRequest>({ type: 'read-index', to: this.leaderId, requestId });
    } else {
      this.readStates.push({ requestId, index: -1 });
    }
  }

  /** Hands leadership to `to` (or the most caught-up voter). Proposals are refused until it completes or times out. */
  transferLeadership(to?: NodeId): void {
    if (this.role !== 'leader') throw new RaftError('not_leader', 'only the leader can transfer leadership');
    if (to === undefined) {
      let best: Progress | null = null;
      for (const pr of this.progress.values()) {
        if (!this.isVoter(pr.id)) continue;
        if (best === null || pr.match > best.match) best = pr;
      }
      if (best === null) throw new RaftError('bad_conf_change', 'no other voter to transfer leadership to');
      to = best.id;
    }
    if (to === this.id) return;
    if (!this.isVoter(to)) throw new RaftError('bad_conf_change', `${to} is not a voter`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeout-now', to });
    else this.sendAppend(pr);
  }

  /** Compacts the log up to a snapshot the driver has made durable. */
  compact(meta: SnapshotMeta): void {
    this.log.compact(meta);
  }

  /** The configuration in force at `index` (for snapshots taken at that index). */
  confAt(index: number): ConfState {
    for (let i = Math.min(index, this.log.lastIndex()); i > this.log.snapshot.index; i--) {
      const e = this.log.entry(i)!;
      if (e.type === EntryType.ConfChange) return decodeConfEntry(e).conf;
    }
    if (index < this.log.snapshot.index) throw new Error(`confAt(${index}) below snapshot ${this.log.snapshot.index}`);
    return this.log.snapshot.conf;
  }

  status(): RaftStatus {
    const progress: ProgressStatus[] = [];
    for (const pr of this.progress.values()) {
      progress.push({
        id: pr.id,
        match: pr.match,
        next: pr.next,
        state: pr.state,
        learner: pr.isLearner,
        ticksSinceContact: pr.ticksSinceContact,
      });
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commit: this.log.commit,
      applying: this.log.applying,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot.index,
      conf: this.conf,
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  hasReady(): boolean {
    if (this.role === 'leader' && (this.appendWanted || this.reads.wantsRound)) return true;
    const hs = this.prevHardState;
    return (
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.snapshotChunks.length > 0 ||
      this.snapshotToInstall !== null ||
      this.log.handedOut < this.log.lastIndex() ||
      this.log.commit > this.log.applying ||
      hs.term !== this.term ||
      hs.vote !== this.vote ||
      hs.commit !== this.log.commit ||
      this.prevSoftState.role !== this.role ||
      this.prevSoftState.leaderId !== this.leaderId
    );
  }

  ready(): Ready {
    if (this.role === 'leader') {
      if (this.reads.beginWantedRound()) this.bcastHeartbeat();
      if (this.appendWanted) {
        this.appendWanted = false;
        this.bcastAppend();
      }
    }
    const hs = this.hardState();
    const prev = this.prevHardState;
    const hardChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
    const soft: SoftState = { role: this.role, leaderId: this.leaderId };
    const softChanged = soft.role !== this.prevSoftState.role || soft.leaderId !== this.prevSoftState.leaderId;
    const committed = this.log.nextCommitted(this.log.lastIndex());
    if (committed.length > 0) this.log.applying = committed[committed.length - 1].index;
    const rd: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hs : null,
      entries: this.log.takeEntriesToWrite(),
      snapshot: this.snapshotToInstall,
      snapshotChunks: this.snapshotChunks,
      committed,
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      readStates: this.readStates,
    };
    this.prevHardState = hs;
    this.prevSoftState = soft;
    this.snapshotToInstall = null;
    this.snapshotChunks = [];
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    return rd;
  }

  /**
   * `rd`'s write is durable. Readies may be taken while earlier ones are in flight; the driver calls
   * this for each in the order it took them.
   */
  advance(rd: Ready): void {
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      if (this.role === 'leader' && this.maybeCommit()) this.appendWanted = true;
    }
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        const inLease = this.cfg.checkQuorum && this.leaderId !== null && this.electionElapsed < this.cfg.electionTicks[0];
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && m.granted)) {
        // A pre-vote says nothing about the sender's real term; keep ours.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A stale leader (or one we ignore while our term is inflated) learns our term and steps
        // down, so that a fresh election can include us; without this, pre-vote and check-quorum
        // together can leave a node stranded at a higher term forever (etcd#9586).
        this.send<AppendResponse>({ type: 'append-resp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'pre-vote') {
        this.send<VoteResponse>({ type: 'pre-vote-resp', to: m.from, granted: false });
      } else if (m.type === 'read-index') {
        this.send<ReadIndexResponse>({ type: 'read-index-resp', to: m.from, requestId: m.requestId, index: -1 });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(m);
        return;
      case 'read-index':
        this.handleReadIndexMessage(m);
        return;
      case 'read-index-resp':
        this.readStates.push({ requestId: m.requestId, index: m.index });
        return;
    }
    if (this.role === 'leader') this.stepLeader(m);
    else this.stepNonLeader(m);
  }

  // ---------------------------------------------------------------- roles

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leaderId = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.progress.clear();
    this.reads.forgetAllPeers();
    this.appendWanted = false;
  }

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.leaderId = leaderId;
    if (wasLeader) this.failPendingReads();
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error('leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: a node that cannot win never disturbs the cluster.
    this.votes.clear();
    this.role = 'pre-candidate';
    this.leaderId = null;
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leaderId = this.id;
    this.resetProgress();
    this.appendEntry(EntryType.Noop, new Uint8Array(0));
  }

  private resetProgress(): void {
    this.progress.clear();
    this.reads.forgetAllPeers();
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) if (id !== this.id) this.progress.set(id, new Progress(id, next, false));
    for (const id of this.conf.learners) if (id !== this.id) this.progress.set(id, new Progress(id, next, true));
  }

  private campaign(kind: 'pre-vote' | 'vote', transfer: boolean): void {
    if (kind === 'pre-vote') this.becomePreCandidate();
    else this.becomeCandidate();
    const term = kind === 'pre-vote' ? this.term + 1 : this.term;
    this.votes.record(this.id, true);
    if (this.votes.result(this.conf.voters) === 'won') {
      if (kind === 'pre-vote') this.campaign('vote', false);
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send<VoteRequest>({
        type: kind,
        to: id,
        term,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  // ---------------------------------------------------------------- ticks

  private resetElectionTimeout(): void {
    const [lo, hi] = this.cfg.electionTicks;
    this.randomizedElectionTimeout = lo + Math.floor(this.cfg.random() * (hi - lo + 1));
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.resetElectionTimeout();
      if (this.isVoter()) this.campaign(this.cfg.preVote ? 'pre-vote' : 'vote', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const pr of this.progress.values()) {
      pr.ticksSinceContact++;
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= this.cfg.electionTicks[0]) {
        this.sendSnapshotChunk(pr); // the last chunk or its answer was lost: resend from the acknowledged offset
      }
    }
    if (this.leadTransferee !== null && ++this.transferElapsed >= this.cfg.electionTicks[0]) {
      this.leadTransferee = null;
    }
    if (this.electionElapsed >= this.cfg.electionTicks[0]) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        const active = isQuorum(this.conf.voters, (id) => id === this.id || this.progress.get(id)?.recentActive === true);
        for (const pr of this.progress.values()) pr.recentActive = false;
        if (!active) {
          this.becomeFollower(this.term, null);
          return;
        }
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
      this.maybePromoteLearner();
    }
  }

  // ---------------------------------------------------------------- votes

  private handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leaderId === null) ||
      (m.type === 'pre-vote' && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const respType = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    if (granted) {
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      // A granted pre-vote answers in the term the candidate would campaign in.
      this.send<VoteResponse>({ type: respType, to: m.from, term: m.term, granted: true });
    } else {
      this.send<VoteResponse>({ type: respType, to: m.from, granted: false });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
    if (m.type !== expected) return;
    this.votes.record(m.from, m.granted);
    const result = this.votes.result(this.conf.voters);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.campaign('vote', false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  // ---------------------------------------------------------------- non-leader

  private stepNonLeader(m: Message): void {
    switch (m.type) {
      case 'append':
        this.followLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.followLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.followLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'timeout-now':
        if (this.isVoter()) this.campaign('vote', true);
        return;
      case 'vote-resp':
      case 'pre-vote-resp':
        if (this.role === 'candidate' || this.role === 'pre-candidate') this.handleVoteResponse(m);
        return;
    }
  }

  private followLeader(leaderId: NodeId): void {
    if (this.role !== 'follower') this.becomeFollower(this.term, leaderId);
    this.leaderId = leaderId;
    this.electionElapsed = 0;
  }

  private handleAppend(m: AppendRequest): void {
    const log = this.log;
    if (m.prevIndex < log.commit) {
      this.send<AppendResponse>({ type: 'append-resp', to: m.from, index: log.commit, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (log.matchTerm(m.prevIndex, m.prevTerm)) {
      const lastNew = m.prevIndex + m.entries.length;
      const changed = log.appendFromLeader(m.prevIndex, m.entries);
      if (changed > 0) this.onEntriesChanged(changed);
      log.commitTo(Math.min(m.commit, lastNew));
      this.send<AppendResponse>({ type: 'append-resp', to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const hint = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm);
    this.send<AppendResponse>({
      type: 'append-resp',
      to: m.from,
      index: m.prevIndex,
      reject: true,
      hintIndex: hint.index,
      hintTerm: hint.term,
    });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send<HeartbeatResponse>({ type: 'heartbeat-resp', to: m.from, readRound: m.readRound });
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    const respond = (nextOffset: number, installed: boolean, snapshotIndex = m.meta.index): void =>
      this.send<SnapshotResponse>({ type: 'snapshot-resp', to: m.from, snapshotIndex, nextOffset, installed });
    if (m.meta.index <= this.log.commit) {
      this.incomingSnapshot.abandon();
      respond(m.meta.size, true, this.log.commit);
      return;
    }
    const { taken, nextOffset } = this.incomingSnapshot.accept(m);
    if (!taken) {
      respond(nextOffset, false);
      return;
    }
    if (m.length > 0) this.snapshotChunks.push({ meta: m.meta, offset: m.offset, data: m.data });
    if (!m.done) {
      respond(nextOffset, false);
      return;
    }
    this.log.restore(m.meta);
    this.recomputeConf();
    this.snapshotToInstall = m.meta;
    respond(m.meta.size, true);
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    switch (m.type) {
      case 'append-resp':
        this.handleAppendResponse(pr, m);
        return;
      case 'heartbeat-resp':
        if (this.reads.recordAck(pr.id, m.readRound)) this.releaseReads();
        if (pr.state === 'probe') pr.probeSent = false;
        else if (pr.state === 'replicate' && pr.inflight.length >= this.cfg.maxInflight) pr.inflight.shift();
        // Forced even when nothing new is due: an append lost while the leader is idle must be
        // noticed (the follower rejects an empty append past its log, and we back off).
        if (pr.match < this.log.lastIndex()) this.sendAppend(pr, true);
        return;
      case 'snapshot-resp':
        this.handleSnapshotResponse(pr, m);
        return;
    }
  }

  private handleAppendResponse(pr: Progress, m: AppendResponse): void {
    if (m.reject) {
      let hintNext = m.hintIndex + 1;
      if (m.hintTerm > 0) hintNext = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index + 1;
      if (pr.maybeDecrTo(m.index, hintNext)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(pr);
      }
      return;
    }
    const wasPaused = pr.isPaused(this.cfg.maxInflight);
    // A probe answered at the match we already knew still proves the follower is with us.
    if (pr.maybeUpdate(m.index) || (pr.state === 'probe' && pr.match === m.index)) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
      else if (pr.state === 'replicate') pr.freeInflightsTo(m.index);
      if (this.maybeCommit()) this.appendWanted = true;
      else if (wasPaused || pr.next <= this.log.lastIndex()) this.sendAppend(pr);
      if (pr.id === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeout-now', to: pr.id });
      }
    } else if (pr.state === 'replicate') {
      pr.freeInflightsTo(m.index);
    }
  }

  private handleSnapshotResponse(pr: Progress, m: SnapshotResponse): void {
    if (pr.state !== 'snapshot') return;
    if (m.installed) {
      pr.maybeUpdate(m.snapshotIndex);
      pr.becomeProbe();
      this.sendAppend(pr);
      return;
    }
    if (m.snapshotIndex !== pr.pendingSnapshot) return;
    pr.snapshotOffset = m.nextOffset;
    this.sendSnapshotChunk(pr);
  }

  private maybeCommit(): boolean {
    const index = quorumIndex(this.conf.voters, (id) => (id === this.id ? this.log.stable : (this.progress.get(id)?.match ?? 0)));
    // Only entries of the current term are committed by counting replicas (Raft §5.4.2, Figure 8).
    if (index <= this.log.commit || this.log.term(index) !== this.term) return false;
    const firstInTerm = this.log.term(this.log.commit) !== this.term;
    this.log.commitTo(index);
    if (firstInTerm) this.reads.admitAwaitingCommit(this.log.commit);
    this.releaseReads();
    if (!this.isVoter() && this.confIndex <= this.log.commit) this.stepDownAfterRemoval();
    return true;
  }

  /** The configuration that removed this leader is committed: hand over to the most caught-up voter. */
  private stepDownAfterRemoval(): void {
    let best: Progress | null = null;
    for (const pr of this.progress.values()) {
      if (this.isVoter(pr.id) && (best === null || pr.match > best.match)) best = pr;
    }
    // Let the followers learn the commit before we go, then wake the best one at once.
    this.bcastAppend();
    if (best !== null && best.match === this.log.lastIndex()) this.send({ type: 'timeout-now', to: best.id });
    this.becomeFollower(this.term, null);
  }

  private maybePromoteLearner(): void {
    if (!this.cfg.autoPromote || this.leadTransferee !== null) return;
    if (this.confIndex > this.log.commit || this.log.term(this.log.commit) !== this.term) return;
    for (const id of this.conf.learners) {
      const pr = this.progress.get(id);
      if (pr !== undefined && pr.state === 'replicate' && pr.recentActive && pr.match >= this.log.commit) {
        try {
          this.proposeConfChange({ type: 'promote', id });
        } catch (err) {
          if (!(err instanceof RaftError)) throw err; // refused for now (too many uncommitted entries): next round
        }
        return;
      }
    }
  }

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new RaftError('not_leader', `not the leader (leader: ${this.leaderId ?? 'unknown'})`);
    if (this.leadTransferee !== null) {
      throw new RaftError('transfer_in_progress', `leadership is moving to ${this.leadTransferee}`);
    }
    if (this.log.lastIndex() - this.log.commit >= this.cfg.maxUncommittedEntries) {
      throw new RaftError('proposal_dropped', 'too many uncommitted entries');
    }
  }

  private appendEntry(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.append(entry);
    this.appendWanted = true;
    return { index: entry.index, term: entry.term };
  }

  private bcastAppend(): void {
    for (const pr of this.progress.values()) this.sendAppend(pr, true);
  }

  private bcastHeartbeat(): void {
    for (const pr of this.progress.values()) {
      this.send<HeartbeatRequest>({
        type: 'heartbeat',
        to: pr.id,
        commit: Math.min(pr.match, this.log.commit),
        readRound: this.reads.round,
      });
    }
  }

  /** Sends the next append to `pr` if its flow control allows; with `force`, sends even if empty (to carry the commit index). */
  private sendAppend(pr: Progress, force = false): void {
    if (pr.isPaused(this.cfg.maxInflight)) return;
    const last = this.log.lastIndex();
    if (pr.next > last && !force) return;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === -1) {
      pr.becomeSnapshot(this.log.snapshot.index);
      this.sendSnapshotChunk(pr);
      return;
    }
    const entries = pr.next <= last ? this.log.slice(pr.next, last, this.cfg.maxAppendBytes) : [];
    this.send<AppendRequest>({ type: 'append', to: pr.id, prevIndex, prevTerm, entries, commit: this.log.commit });
    pr.sentEntries(prevIndex + entries.length, entries.length);
  }

  private sendSnapshotChunk(pr: Progress): void {
    const meta = this.log.snapshot;
    if (pr.pendingSnapshot !== meta.index) pr.becomeSnapshot(meta.index);
    const offset = Math.min(pr.snapshotOffset, meta.size);
    const length = Math.min(this.cfg.snapshotChunkSize, meta.size - offset);
    pr.snapshotTicks = 0;
    this.send<SnapshotChunk>({
      type: 'snapshot',
      to: pr.id,
      meta,
      offset,
      data: new Uint8Array(0),
      length,
      done: offset + length === meta.size,
    });
  }

  // ---------------------------------------------------------------- reads

  private handleReadIndexMessage(m: ReadIndexRequest): void {
    if (this.role === 'leader') this.handleReadRequest(m.from, m.requestId);
    else this.send<ReadIndexResponse>({ type: 'read-index-resp', to: m.from, requestId: m.requestId, index: -1 });
  }

  private handleReadRequest(from: NodeId, requestId: number): void {
    if (this.reads.isFull) {
      this.answerRead(from, requestId, -1);
      return;
    }
    // The commit index is only known to be current once the leader has committed in its own term.
    if (this.log.term(this.log.commit) !== this.term) {
      this.reads.awaitCommit({ from, requestId });
      return;
    }
    this.reads.hold({ from, requestId }, this.log.commit);
    this.releaseReads();
  }

  private releaseReads(): void {
    for (const r of this.reads.release(this.conf.voters)) this.answerRead(r.from, r.requestId, r.index);
  }

  private answerRead(from: NodeId, requestId: number, index: number): void {
    if (from === this.id) this.readStates.push({ requestId, index });
    else this.send<ReadIndexResponse>({ type: 'read-index-resp', to: from, requestId, index });
  }

  private failPendingReads(): void {
    for (const r of this.reads.drain()) this.answerRead(r.from, r.requestId, -1);
  }

  // ---------------------------------------------------------------- configuration

  private setConf(conf: ConfState, index: number): void {
    this.conf = conf;
    this.confIndex = index;
    if (this.role !== 'leader') return;
    for (const id of [...this.progress.keys()]) {
      if (isMember(conf, id)) continue;
      this.progress.delete(id);
      this.reads.forgetPeer(id);
    }
    const next = this.log.lastIndex() + 1;
    for (const id of conf.voters) {
      if (id === this.id) continue;
      const pr = this.progress.get(id);
      if (pr === undefined) this.progress.set(id, new Progress(id, next, false));
      else pr.isLearner = false;
    }
    for (const id of conf.learners) {
      if (id !== this.id && !this.progress.has(id)) this.progress.set(id, new Progress(id, next, true));
    }
    if (this.leadTransferee !== null && !conf.voters.includes(this.leadTransferee)) this.leadTransferee = null;
  }

  /** Entries from `from` on were replaced or added: the configuration is the latest one in the log. */
  private onEntriesChanged(from: number): void {
    if (from <= this.confIndex) {
      this.recomputeConf();
      return;
    }
    for (let i = this.log.lastIndex(); i >= from; i--) {
      const e = this.log.entry(i)!;
      if (e.type === EntryType.ConfChange) {
        this.setConf(decodeConfEntry(e).conf, i);
        return;
      }
    }
  }

  private recomputeConf(): void {
    const snap = this.log.snapshot;
    for (let i = this.log.lastIndex(); i > snap.index; i--) {
      const e = this.log.entry(i)!;
      if (e.type === EntryType.ConfChange) {
        this.setConf(decodeConfEntry(e).conf, i);
        return;
      }
    }
    this.setConf(snap.conf, snap.index);
  }

  private send<M extends Message>(m: Omit<M, 'from' | 'term'> & { term?: number }): void {
    const msg = { ...m, from: this.id, term: m.term ?? this.term } as unknown as Message;
    if (SEND_BEFORE_PERSIST.has(msg.type)) this.msgs.push(msg);
    else this.msgsAfterPersist.push(msg);
  }
}
