import { ConfState, decodeConfEntry, Entry, EntryType, Message, NodeId, RaftCore, Ready } from '../core';
import { checkLinearizability, Operation } from './linearizability';
import { KvInput, kvModel, KvOutput } from './kv-model';
import type { SimNode } from './sim-node';
import type { SimWorld } from './sim-world';

/**
 * The checks of the simulation. Raft's safety properties (election safety, log matching, leader
 * completeness, state machine safety), that a leader commits only what a quorum has on disk, and
 * that replicas agree at snapshot points are checked as the run goes, from what the nodes hand out;
 * liveness and linearizability once at the end. A failed check records a violation in the world,
 * which stops the run.
 *
 * Also, per node: what each step and tick may do to its term, that reads are not stale, that the
 * commit and applied indexes never go back (except to what a restart finds on disk), and that the
 * configurations in flight are one change apart (one uncommitted change per log, majorities that
 * intersect).
 */
export class InvariantChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entryAt = new Map<string, { entry: Entry; prevTerm: number }>();
  private readonly committed = new Map<number, Entry>();
  /** The term in which each committed entry was first seen committed (an upper bound of its commit term). */
  private readonly committedInTerm = new Map<number, number>();
  /** The state (its comparable form) of the first replica that reached each snapshot index. */
  private readonly stateAt = new Map<number, string>();
  /** The latest committed configuration entry (none: the initial configuration, at index 0). */
  private committedConf: { index: number; conf: ConfState | null } = { index: 0, conf: null };
  /** Per node: the incarnation, commit and applied indexes last seen, and what a boot must start from. */
  private readonly indexesOf = new Map<SimNode, NodeIndexes>();
  /** The highest commit index any node has had so far, which node had it first, and when. */
  private highestCommit: ReadFloor = { index: 0, holder: '-', at: 0 };
  /** Per node and read request: the highest commit index in the cluster when the request arrived. */
  private readonly readFloors = new Map<SimNode, Map<number, ReadFloor & { arrived: number }>>();
  /** Per node: the next read request id not yet given a floor. */
  private readonly nextReadToNote = new Map<SimNode, number>();

  /** Since when each leader (by node) has been cut off from a quorum of voters, in its current term. */
  private readonly isolatedSince = new Map<SimNode, { term: number; since: number; slowestTickMs: number }>();

  /** Leadership transfers started while the leader and its target could talk without loss, by leader. */
  private readonly transfers = new Map<SimNode, { target: NodeId; term: number; since: number; boundMs: number }>();
  /** The transfer each leader was last seen running (a transfer is judged from the moment it starts). */
  private readonly seenTransfer = new Map<SimNode, string>();

  /** After the heal: the leader the cluster is settled on (or settling on, until `confirmed`), since when, and the crashes counted then. */
  private settled: Settled | null = null;

  constructor(
    private readonly world: SimWorld,
    private readonly network: NetworkView = { linkUp: () => true, lossless: () => true },
  ) {}

  /** After each event on a live node. */
  checkNode(node: SimNode): void {
    const core = node.core!;
    if (core.role === 'leader') {
      const prev = this.leaderOfTerm.get(core.term);
      if (prev === undefined) {
        this.leaderOfTerm.set(core.term, node.id);
        this.checkLeaderCompleteness(node);
      } else if (prev !== node.id) {
        this.world.violation(`election safety: ${prev} and ${node.id} both leader in term ${core.term}`);
      }
    }
    const log = core.log;
    if (log.commit > log.lastIndex()) this.world.violation(`${node.id} commit ${log.commit} beyond last index ${log.lastIndex()}`);
    // Whatever any node considers committed must be the same entry everywhere, forever.
    for (let i = Math.max(node.checkedCommit, log.snapshot.index) + 1; i <= log.commit; i++) this.recordCommitted(node, log.entry(i)!);
    node.checkedCommit = log.commit;
    if (log.commit > this.highestCommit.index) this.highestCommit = { index: log.commit, holder: node.id, at: this.world.now };
    if (core.role === 'leader' && log.commit > node.leaderCheckedCommit) {
      node.leaderCheckedCommit = log.commit;
      this.checkCommitDurable(node);
    }
    this.checkIndexesMonotonic(node);
    this.checkIsolatedLeaderStepsDown(node);
    this.checkTransferCompletes(node);
    this.checkSettledLeadership();
    this.checkOneUncommittedConfChange(node);
    this.checkConfigurationsOverlap();
  }

  /**
   * Availability: with check-quorum, a leader that no quorum of voters can hear or answer steps down
   * within a few election timeouts of its own clock, so that clients stop waiting on it (and a
   * partitioned minority stops serving as if it led). Peers that are down or paused count as cut off.
   */
  private checkIsolatedLeaderStepsDown(node: SimNode): void {
    const core = node.core!;
    if (core.role !== 'leader' || !internals(core).cfg.checkQuorum) {
      this.isolatedSince.delete(node);
      return;
    }
    const now = this.world.now;
    const reachable = (id: NodeId): boolean => {
      if (id === node.id) return true;
      const peer = this.world.nodes.get(id);
      return peer !== undefined && peer.alive && peer.pausedUntil <= now && this.network.linkUp(node.id, id) && this.network.linkUp(id, node.id);
    };
    const voters = core.conf.voters;
    if (voters.filter(reachable).length > voters.length / 2) {
      this.isolatedSince.delete(node);
      return;
    }
    const since = this.isolatedSince.get(node);
    if (since === undefined || since.term !== core.term) {
      this.isolatedSince.set(node, { term: core.term, since: now, slowestTickMs: node.tickMs });
      return;
    }
    // Check-quorum looks once per election timeout (at most electionTicks[1] ticks of the node's own
    // clock, which a fault may slow down meanwhile); allow three.
    since.slowestTickMs = Math.max(since.slowestTickMs, node.tickMs);
    const bound = 3 * internals(core).cfg.electionTicks[1] * since.slowestTickMs;
    // A paused leader's clock stands still: count from the end of its last pause.
    const counted = now - Math.max(since.since, node.pausedUntil);
    if (counted > bound) {
      this.world.violation(`availability: ${node.id} still leads term ${core.term} ${counted} ms after a quorum of voters was cut off from it (bound ${bound} ms)`);
      this.isolatedSince.delete(node);
    }
  }

  /**
   * Availability: a leadership transfer to a voter being replicated to, with every voter up and the
   * links between them up and lossless all along, makes the target the leader of the next term within
   * two election timeouts. A target that campaigns without the transfer flag is ignored by followers
   * that still hear from their leader: leadership then moves only after a disruption, in a later term.
   */
  private checkTransferCompletes(node: SimNode): void {
    const now = this.world.now;
    for (const [leader, t] of this.transfers) {
      const next = this.leaderOfTerm.get(t.term + 1);
      if (next === t.target) {
        this.transfers.delete(leader);
      } else if (!this.transferHealthy(leader, t.target)) {
        this.transfers.delete(leader);
      } else if (next !== undefined || now - t.since > t.boundMs) {
        this.transfers.delete(leader);
        const outcome = next !== undefined ? `${next} leads term ${t.term + 1} instead` : `no leader in term ${t.term + 1} after ${now - t.since} ms`;
        this.world.violation(`availability: ${leader.id} transferred leadership to ${t.target} in term ${t.term} with every voter up and the network healthy, but ${outcome}`);
      }
    }
    const core = node.core!;
    const s = core.status();
    const target = s.leadTransferee;
    const key = target === null || s.role !== 'leader' ? null : `${target}@${core.term}`;
    const started = key !== null && this.seenTransfer.get(node) !== key;
    if (key === null) this.seenTransfer.delete(node);
    else this.seenTransfer.set(node, key);
    if (!started || target === null || !this.transferHealthy(node, target)) return;
    // Judged only in a settled cluster: every voter follows this leader (just after a partition heals,
    // followers may already be timing out, and another may win the next term fairly).
    if (!s.conf.voters.every((id) => this.world.nodes.get(id)?.core?.leaderId === node.id)) return;
    // ... and no configuration change is in flight (voters may disagree on who votes until it commits).
    if (core.confIndex > core.log.commit) return;
    // A target being replicated to (not probed, not sent a snapshot) catches up well within the bound.
    const pr = s.progress.find((p) => p.id === target);
    if (pr === undefined || (pr.match !== s.lastIndex && pr.state !== 'replicate')) return;
    const boundMs = 2 * internals(core).cfg.electionTicks[1] * node.tickMs;
    this.transfers.set(node, { target, term: core.term, since: now, boundMs });
  }

  /**
   * Availability: once the faults are over and the cluster has settled, its leader stays. Settled: after
   * the heal, a leader whose configuration's members are all up, unpaused, in its term and following
   * it, with no configuration change or transfer in flight, for a whole maximum election timeout (so
   * that every follower's election timer has run since the heal: one that was about to fire at the heal
   * was started by a fault). From then on no fault comes (a crash armed before the heal may still fire:
   * the cluster must settle again after it), so a member entering a later term, or the leader stepping
   * down, is a leader change no fault caused: a pre-vote, check-quorum or timer bug that users see as an
   * outage. The bound is zero such changes. (`settledMs` in the stats: how long after the heal the
   * cluster first settled.)
   */
  private checkSettledLeadership(): void {
    const world = this.world;
    if (world.now <= world.opts.faultMs) return;
    const s = this.settled;
    if (s !== null && s.confirmed && s.crashes === world.stats.crashes) {
      this.checkLeaderStays(s);
      return;
    }
    const cur = this.settledLeader();
    if (cur === null || s === null || cur.leader !== s.leader || cur.term !== s.term || s.crashes !== world.stats.crashes) {
      this.settled = cur;
      return;
    }
    if (world.now - s.since < internals(s.leader.core!).cfg.electionTicks[1] * s.leader.tickMs) return;
    s.confirmed = true;
    world.trace(`settled: ${s.leader.id} leads term ${s.term} (since t=${s.since}ms)`);
    if (world.stats.settledMs < 0) world.stats.settledMs = s.since - world.opts.faultMs;
  }

  private checkLeaderStays(s: Settled): void {
    const core = s.leader.core;
    let what: string | null = null;
    if (core === null || core.role !== 'leader' || core.term !== s.term) what = `${s.leader.id} no longer leads term ${s.term} (${core === null ? 'down' : `${core.role} in term ${core.term}`})`;
    for (const id of core === null ? [] : [...core.conf.voters, ...core.conf.learners]) {
      const term = this.world.nodes.get(id)?.core?.term ?? 0;
      if (term > s.term) what = `${id} entered term ${term}`;
    }
    if (what === null) return;
    this.world.violation(`availability: ${what}, after the cluster settled on ${s.leader.id} as leader of term ${s.term} (t=${s.since}ms), with no fault since`);
    this.settled = null;
  }

  /** The leader every member of its configuration follows now, with nothing in flight that may change it. */
  private settledLeader(): Settled | null {
    const world = this.world;
    const leader = world.leader();
    const core = leader?.core;
    if (leader === undefined || core === null || core === undefined || core.confIndex > core.log.commit || core.status().leadTransferee !== null) return null;
    for (const id of [...core.conf.voters, ...core.conf.learners]) {
      const peer = world.nodes.get(id);
      if (peer === undefined || peer.core === null || peer.pausedUntil > world.now || peer.core.term !== core.term || peer.core.leaderId !== leader.id) return null;
    }
    return { leader, term: core.term, since: world.now, crashes: world.stats.crashes, confirmed: false };
  }

  private transferHealthy(leader: SimNode, target: NodeId): boolean {
    const now = this.world.now;
    const core = leader.core;
    if (core === null || !this.network.lossless() || leader.pausedUntil > now || !core.conf.voters.includes(target)) return false;
    // The leader counts even when its latest configuration (a removal of itself, not yet committed) leaves
    // it out, and the target needs a majority of its own configuration, which may lag the leader's.
    const targetCore = this.world.nodes.get(target)?.core;
    if (targetCore === null || targetCore === undefined) return false;
    const nodes = [...new Set([leader.id, ...core.conf.voters, ...targetCore.conf.voters])];
    return nodes.every((id) => {
      const peer = this.world.nodes.get(id);
      if (peer === undefined || !peer.alive || peer.pausedUntil > now) return false;
      return nodes.every((other) => other === id || (this.network.linkUp(id, other) && this.network.linkUp(other, id)));
    });
  }

  /**
   * A leader commits an entry of its term once a quorum of voters has it on disk: counting its own
   * entries before they are synced, or acknowledgements sent before they are, breaks this at once,
   * where the lost entry only shows when crashes and elections line up to overwrite it.
   */
  private checkCommitDurable(node: SimNode): void {
    const core = node.core!;
    const index = core.log.commit;
    const term = core.log.term(index);
    if (term !== core.term) return; // entries of earlier terms commit only by one of this term
    const voters = core.conf.voters;
    const durable = voters.filter((id) => this.world.nodes.get(id)?.disk.holds(index, term) ?? false).length;
    if (durable <= voters.length / 2) {
      this.world.violation(`${node.id} (leader, term ${term}) committed ${index} while it is on the disk of only ${durable} of ${voters.length} voters`);
    }
  }

  private checkLeaderCompleteness(node: SimNode): void {
    const log = node.core!.log;
    const term = node.core!.term;
    for (const [index, entry] of this.committed) {
      // Leader completeness binds leaders of later terms only: a candidate that was paused can still
      // win an older term after a newer leader committed more, and is deposed at its first append.
      if (index <= log.snapshot.index || this.committedInTerm.get(index)! >= term) continue;
      if (log.entry(index) !== entry) {
        this.world.violation(`leader completeness: leader ${node.id} (term ${node.core!.term}) lacks committed entry ${index}/${entry.term}`);
        return;
      }
    }
  }

  /** On each Ready a node begins: the entries it is to write and those it hands out for apply. */
  checkReady(node: SimNode, rd: Ready): void {
    const log = node.core!.log;
    for (const e of rd.entries) {
      const key = `${e.index}:${e.term}`;
      const prevTerm = log.term(e.index - 1);
      const seen = this.entryAt.get(key);
      if (seen === undefined) {
        this.entryAt.set(key, { entry: e, prevTerm });
      } else if (seen.entry !== e) {
        this.world.violation(`log matching: two different entries at index ${e.index} term ${e.term} (${node.id})`);
      } else if (seen.prevTerm !== prevTerm && prevTerm !== -1) {
        this.world.violation(`log matching: entry ${key} follows term ${prevTerm} on ${node.id} but term ${seen.prevTerm} elsewhere`);
      }
    }
    for (const e of rd.committed) {
      this.recordCommitted(node, e);
      if (e.index > node.core!.log.commit) this.world.violation(`${node.id} applies ${e.index} beyond its commit ${node.core!.log.commit}`);
    }
  }

  private recordCommitted(node: SimNode, e: Entry): void {
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, e);
      this.committedInTerm.set(e.index, node.core!.term);
      if (e.type === EntryType.ConfChange && e.index > this.committedConf.index) this.committedConf = { index: e.index, conf: decodeConfEntry(e).conf };
    } else if (c !== e) {
      this.world.violation(`state machine safety: ${node.id} has ${e.index}/${e.term} committed, another node committed ${c.index}/${c.term}`);
    }
  }

  // ---------------------------------------------------------------- terms, per step and tick

  /** Before `step(m)`: what decides whether the node may ignore a higher term in `m`. */
  beforeStep(core: RaftCore, m: Message): StepContext {
    const { cfg, electionElapsed } = internals(core);
    // A vote request the core drops unanswered: a leader is known and heard from within the minimum
    // election timeout (raft.ts, `step`: `inLease`), unless the election comes from a leadership transfer.
    const droppedInLease = m.type === 'vote' && !m.transfer && cfg.checkQuorum && core.leaderId !== null && electionElapsed < cfg.electionTicks[0];
    return { term: core.term, droppedInLease };
  }

  /**
   * After `step(m)`: the node's term is at least the message's, except for what carries no real term
   * (a pre-vote, a granted pre-vote answer, which name the term the candidate would campaign in) and
   * a vote request dropped under the leader lease; and a pre-vote request never changes it.
   */
  afterStep(node: SimNode, m: Message, before: StepContext): void {
    const core = node.core;
    if (core === null || m.to !== node.id) return;
    // A pre-vote request names a term its sender has not entered: answering it changes nothing here.
    // (A rejoining node's pre-votes that raised terms would depose a healthy leader.)
    if (m.type === 'pre-vote' && core.term !== before.term) {
      this.world.violation(`term: ${node.id} stepped a pre-vote of term ${m.term} from ${m.from} and moved from term ${before.term} to ${core.term}`);
      return;
    }
    if (core.term >= m.term) return;
    if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && m.granted) || before.droppedInLease) return;
    this.world.violation(`term: ${node.id} stepped ${m.type} of term ${m.term} from ${m.from} and stays at term ${core.term} (was ${before.term})`);
  }

  /**
   * After `tick()`: with pre-vote, a tick starts at most a pre-vote, which leaves the term alone; only
   * a sole voter wins its pre-vote on its own vote and campaigns (term + 1) within the same tick.
   */
  beforeTick(core: RaftCore): TickContext {
    const voters = core.conf.voters;
    return { term: core.term, soleVoter: voters.length === 1 && voters[0] === core.id };
  }

  afterTick(node: SimNode, before: TickContext): void {
    const core = node.core!;
    if (!internals(core).cfg.preVote || core.term === before.term) return;
    if (before.soleVoter && core.term === before.term + 1) return;
    this.world.violation(`term: a tick raised ${node.id}'s term from ${before.term} to ${core.term} with pre-vote on (${core.role})`);
  }

  // ---------------------------------------------------------------- what a message promises

  /**
   * A granted vote leaves only once its term and vote are on the voter's disk (what reached the
   * virtual disk, not what is in flight to it): a voter that crashed after sending it would restart
   * without the vote and could grant the term again, to another candidate. Checked at the send, where
   * the bug is, rather than waiting for a crash and a second election to line up with it.
   */
  checkSent(node: SimNode, m: Message): void {
    if (m.type !== 'vote-resp' || !m.granted) return;
    const hs = node.disk.hardState;
    if (hs.term > m.term || (hs.term === m.term && hs.vote === m.to)) return;
    this.world.violation(`durability: ${node.id} sends its vote for ${m.to} in term ${m.term} while its disk holds term ${hs.term}, vote ${hs.vote ?? 'none'}`);
  }

  // ---------------------------------------------------------------- stale reads

  /**
   * Gives each read request that reached `node` since the last call its floor: the highest commit
   * index any node has had (a node that has crashed since counts: what it committed stays committed,
   * and an acknowledged write may be known committed nowhere else yet). The driver calls this at the
   * start of each event's processing, which the workload runs right after registering a read (nothing
   * commits in between).
   */
  noteReadArrivals(node: SimNode): void {
    const from = this.nextReadToNote.get(node) ?? 1;
    if (from >= node.nextReadId) return;
    for (const n of this.world.nodes.values()) {
      const commit = n.core?.log.commit ?? 0;
      if (commit > this.highestCommit.index) this.highestCommit = { index: commit, holder: n.id, at: this.world.now };
    }
    const floor = { ...this.highestCommit, arrived: this.world.now };
    let floors = this.readFloors.get(node);
    if (floors === undefined) this.readFloors.set(node, (floors = new Map()));
    for (let id = from; id < node.nextReadId; id++) floors.set(id, floor);
    this.nextReadToNote.set(node, node.nextReadId);
  }

  /** A read served at `index` reflects every entry committed anywhere before the request arrived. */
  checkReadServed(node: SimNode, requestId: number, index: number): void {
    const floors = this.readFloors.get(node);
    const floor = floors?.get(requestId);
    floors?.delete(requestId);
    if (floor === undefined || index >= floor.index) return;
    this.world.violation(
      `stale read: ${node.id} serves read ${requestId} at index ${index} (applied ${node.applied}), but when the read arrived (t=${floor.arrived}ms) ${floor.holder} had had commit index ${floor.index} (since t=${floor.at}ms)`,
    );
  }

  // ---------------------------------------------------------------- commit and applied indexes

  /** A node (re)boots: it may start below what it had reached, but not below what its disk holds. */
  nodeBooted(node: SimNode): void {
    const disk = node.disk;
    const lastOnDisk = disk.entries.length > 0 ? disk.entries[disk.entries.length - 1].index : disk.snapshot.index;
    // What the disk says is committed, as far as its log goes (a torn write can land the hard state without its entries).
    const commit = Math.min(Math.max(disk.hardState.commit, disk.snapshot.index), lastOnDisk);
    this.indexesOf.set(node, { incarnation: node.incarnation, commit, applied: disk.snapshot.index, booted: true });
    this.readFloors.delete(node);
    this.nextReadToNote.set(node, node.nextReadId);
  }

  private checkIndexesMonotonic(node: SimNode): void {
    const seen = this.indexesOf.get(node);
    const commit = node.core!.log.commit;
    const applied = node.applied;
    if (seen === undefined || seen.incarnation !== node.incarnation) {
      this.world.violation(`${node.id}: indexes checked in incarnation ${node.incarnation} the checker did not see boot`);
      return;
    }
    const what = seen.booted ? 'what its disk holds after a restart' : 'before';
    if (commit < seen.commit) this.world.violation(`${node.id} commit index went back from ${seen.commit} to ${commit} (${what})`);
    if (applied < seen.applied) this.world.violation(`${node.id} applied index went back from ${seen.applied} to ${applied} (${what})`);
    seen.commit = Math.max(seen.commit, commit);
    seen.applied = Math.max(seen.applied, applied);
    seen.booted = false;
  }

  /** The state machine is about to be replaced by a snapshot at `index`: never one older than what it applied. */
  checkSnapshotRestore(node: SimNode, index: number): void {
    if (index < node.applied) this.world.violation(`${node.id} restores a snapshot at ${index} over a state machine that applied ${node.applied}`);
  }

  // ---------------------------------------------------------------- configurations

  /** A leader proposes a configuration change only once the previous one is committed: at most one uncommitted per log. */
  private checkOneUncommittedConfChange(node: SimNode): void {
    const core = node.core!;
    const log = core.log;
    // Committed anywhere counts: a follower may not know yet that an older change committed (its
    // commit index lags the leader's), while the leader that added a newer one did know.
    const committedAnywhere = (i: number): boolean => {
      const e = log.entry(i);
      return e !== undefined && this.committed.get(i)?.term === e.term;
    };
    if (core.confIndex <= log.commit || committedAnywhere(core.confIndex)) return;
    for (let i = Math.max(log.commit, log.snapshot.index) + 1; i < core.confIndex; i++) {
      if (log.entry(i)?.type === EntryType.ConfChange && !committedAnywhere(i)) {
        this.world.violation(`${node.id} holds two uncommitted configuration changes, at ${i} and ${core.confIndex} (commit ${log.commit})`);
        return;
      }
    }
  }


  /**
   * The configurations in flight (the latest committed one, and each live node's latest one while its
   * entry can still be committed) have majorities that intersect pairwise, so no two leaders can ever
   * be elected, or commit, by disjoint quorums.
   */
  private checkConfigurationsOverlap(): void {
    const inFlight: { voters: readonly NodeId[]; where: string }[] = [];
    if (this.committedConf.conf !== null) inFlight.push({ voters: this.committedConf.conf.voters, where: `committed at ${this.committedConf.index}` });
    for (const n of this.world.nodes.values()) {
      const core = n.core;
      if (core === null || core.conf.voters.length === 0 || !this.mayStillCommit(core)) continue;
      if (inFlight.some((c) => c.voters === core.conf.voters)) continue;
      inFlight.push({ voters: core.conf.voters, where: `${n.id}'s, at ${core.confIndex}` });
    }
    for (let i = 0; i < inFlight.length; i++) {
      for (let j = i + 1; j < inFlight.length; j++) {
        const a = inFlight[i];
        const b = inFlight[j];
        if (!hasDisjointMajorities(a.voters, b.voters)) continue;
        this.world.violation(`configurations: [${a.voters.join(',')}] (${a.where}) and [${b.voters.join(',')}] (${b.where}) have disjoint majorities`);
        return;
      }
    }
  }

  /**
   * Whether the entry that set `core`'s latest configuration may yet be committed. Not when it is older
   * than the latest committed configuration (a node that missed a committed change, such as a removed
   * voter, which never hears of its removal, keeps a configuration whose majorities may be disjoint
   * from today's: only the log up-to-date check keeps it from being elected); not when it is committed
   * (the latest committed one is counted as such) or another entry is committed at its index; and not
   * when an entry of a later term is committed below it. The last is what a leader's rule of committing
   * an entry of its own term before it changes the configuration (Ongaro's fix for single-server
   * changes) guarantees: a change an old leader left uncommitted is dead before the next one is made,
   * even though both sit in logs for a while.
   */
  private mayStillCommit(core: RaftCore): boolean {
    const index = core.confIndex;
    if (index < this.committedConf.index || this.committed.has(index)) return false;
    const below = this.committed.get(Math.min(index - 1, this.highestCommit.index));
    return below === undefined || below.term <= core.log.term(index);
  }

  /** Every node snapshots at the same indexes, where its state must equal that of every other replica. */
  compareState(node: SimNode, index: number, state: string): void {
    const seen = this.stateAt.get(index);
    if (seen === undefined) this.stateAt.set(index, state);
    else if (seen !== state) this.world.violation(`replica divergence: ${node.id} state at index ${index} differs from another replica's`);
  }

  /**
   * At the end of the heal period: a leader, a write that succeeded after healing, and a history of
   * client operations that is linearizable. Also counts the operations whose outcome stayed unknown.
   */
  finalChecks(history: Operation<KvInput, KvOutput>[], lastWriteOkAt: number): void {
    const world = this.world;
    const healAt = world.opts.faultMs;
    const leader = world.leader();
    if (leader === undefined) world.violation('liveness: no leader at the end of the heal period');
    if (lastWriteOkAt < healAt) world.violation(`liveness: no write succeeded within ${world.opts.healMs}ms of healing`);
    for (const op of history) if (op.ret === Infinity) world.stats.unknown++;
    world.stats.finalCommit = leader?.core?.log.commit ?? 0;
    const res = checkLinearizability(kvModel, history, { timeoutMs: 20_000 });
    if (res.verdict === 'illegal') world.violation(`linearizability: ${res.details ?? ''}`);
    else if (res.verdict === 'timeout') world.violation('linearizability: checker timed out');
  }
}

/** What the checker may see of the network. */
export interface NetworkView {
  /** Whether the network carries messages from one node to another (a cut link drops them all). */
  linkUp(from: NodeId, to: NodeId): boolean;
  /** No random loss at the moment. */
  lossless(): boolean;
}

interface Settled {
  leader: SimNode;
  term: number;
  since: number;
  crashes: number;
  /** Held for a maximum election timeout: from now on a leader change is one no fault caused. */
  confirmed: boolean;
}

interface StepContext {
  term: number;
  droppedInLease: boolean;
}

interface TickContext {
  term: number;
  soleVoter: boolean;
}

interface ReadFloor {
  index: number;
  holder: NodeId;
  at: number;
}

interface NodeIndexes {
  incarnation: number;
  commit: number;
  applied: number;
  /** Nothing seen yet since the boot: the indexes are the floors the disk gives. */
  booted: boolean;
}

/**
 * The core's private settings and election clock, read (never written) to know exactly when it may
 * drop a vote request. A renamed field reads as undefined and makes the term check fail loudly.
 */
function internals(core: RaftCore): { cfg: { preVote: boolean; checkQuorum: boolean; electionTicks: [number, number] }; electionElapsed: number } {
  return core as unknown as { cfg: { preVote: boolean; checkQuorum: boolean; electionTicks: [number, number] }; electionElapsed: number };
}

/** Whether some majority of `a` and some majority of `b` share no voter. */
function hasDisjointMajorities(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  const inB = new Set(b);
  const both = new Set(a.filter((v) => inB.has(v))).size;
  const sizeA = new Set(a).size;
  const sizeB = inB.size;
  // Fill each majority from the voters only it has first, then from the shared ones.
  const sharedA = Math.max(0, Math.floor(sizeA / 2) + 1 - (sizeA - both));
  const sharedB = Math.max(0, Math.floor(sizeB / 2) + 1 - (sizeB - both));
  return sharedA + sharedB <= both;
}
