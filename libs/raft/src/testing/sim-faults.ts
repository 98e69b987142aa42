import { ConfChange, NodeId, RaftError } from '../core';
import { Rng } from './rng';
import type { ReadyCrash } from './sim-disk';
import type { NodeDriver } from './sim-driver';
import type { SimNetwork } from './sim-network';
import type { SimNode } from './sim-node';
import type { ClientWorkload } from './sim-workload';
import type { SimWorld } from './sim-world';

/**
 * The nemesis of the faulty phase: at random intervals it partitions the network, cuts single links,
 * changes loss, duplication and delay, crashes nodes (also inside a write, or all at once), pauses
 * them, slows their disks, changes membership and transfers leadership; then it heals everything,
 * after which the cluster must recover on its own.
 *
 * A second series of faults, aimed at triggers that are rare by chance, draws from its own streams
 * (derived from the seed, not from the world's), so that the first series' draws stay where they
 * were: crashes inside a Ready aimed at a vote or an acknowledged append, a leader cut off from its
 * peers while clients keep reading through it, races of membership changes, and per seed the
 * profiles of lockstep clocks, frequent compaction, late copies of snapshot traffic and whole snapshot
 * transfers delivered again once the follower has committed past them (from a stream of its own). A third,
 * with a stream and a schedule of its own again, aims a configuration change at the moment a new
 * leader is elected.
 */
export class FaultInjector {
  private healed = false;
  /** While set, a node that just became leader is crashed within a few ms with this probability. */
  private leaderKillRate: number;
  /** The number of the next node added (a refused change uses one up too). */
  private nextNodeNumber: number;
  /** The clients, for the stale-leader fault to steer (set once the workload exists). */
  clients: ClientWorkload | null = null;
  /** The second series' schedule and choices; `crashRng` draws the crash points it arms. */
  private readonly xrng: Rng;
  private readonly crashRng: Rng;
  /** The election-window fault's draws (see {@link electionWindowFault}). */
  private readonly windowRng: Rng;
  /** Armed by that fault: the next leader elected other than `oldLeader` proposes a removal at once. */
  private changeOnElection: { oldLeader: NodeId; removed: NodeId; until: number } | null = null;

  /**
   * `churn`: the seed's churn profile, where leaders die within milliseconds of election (see the
   * Simulation's constructor). `clusterSize`: how many nodes the cluster started with.
   */
  constructor(
    private readonly world: SimWorld,
    private readonly network: SimNetwork,
    private readonly driver: NodeDriver,
    private readonly churn: boolean,
    clusterSize: number,
  ) {
    this.leaderKillRate = churn ? 0.7 : 0;
    this.nextNodeNumber = clusterSize + 1;
    const root = new Rng((Math.imul(world.opts.seed, 0x9e3779b1) ^ 0x5eed5eed) >>> 0);
    const profile = root.fork();
    this.xrng = root.fork();
    this.crashRng = root.fork();
    const replayRng = root.fork();
    this.windowRng = root.fork();
    const transferRng = root.fork();
    // Lockstep: every clock ticks at the same instants and every message takes the same time, so
    // that only the core's randomised election timeouts break the symmetry between candidates.
    if (!churn && profile.chance(0.12)) {
      driver.lockstep = true;
      network.fixedDelay = profile.pick([1, 2, 4]);
      this.count('lockstepSeeds');
    }
    // Frequent compaction, so that lagging followers get snapshots often.
    if (profile.chance(0.35)) {
      driver.compactEvery = 10;
      this.count('compactEvery10Seeds');
    }
    if (profile.chance(0.4)) {
      network.replay = { rate: profile.pick([0.2, 0.5]), rng: replayRng };
      this.count('snapshotReplaySeeds');
    }
    // Whole snapshot transfers delivered again once the follower has committed past them (its own stream).
    if (transferRng.chance(0.75)) {
      network.transferReplay = { rng: transferRng };
      this.count('snapshotTransferReplaySeeds');
    }
    world.at(this.xrng.int(300, 1000), () => this.scheduleTargetedFault());
    if (this.windowRng.chance(0.5)) world.at(this.windowRng.int(500, 3000), () => this.scheduleElectionWindowFault());
  }

  private count(name: string): void {
    const faults = this.world.stats.faults;
    faults[name] = (faults[name] ?? 0) + 1;
  }

  /** Schedules the next fault at `at`, and so on at random intervals until the faulty phase ends. */
  scheduleFault(at: number): void {
    const world = this.world;
    if (at >= world.opts.faultMs) return;
    world.at(at, () => {
      if (this.healed) return;
      this.injectFault();
      this.scheduleFault(world.now + world.rng.int(100, 1200));
    });
  }

  /** Called when a node becomes leader: while leaders are being killed, it may crash soon and come back. */
  onLeaderElected(node: SimNode): void {
    const world = this.world;
    const armed = this.changeOnElection;
    if (armed !== null && node.id !== armed.oldLeader && world.now <= armed.until && !this.healed) {
      this.changeOnElection = null;
      // The next event at this instant: the leader's no-op cannot have committed (a round trip takes 1 ms or more).
      world.at(world.now, () => this.proposeInElectionWindow(node, armed.removed));
    }
    if (!this.healed && world.rng.chance(this.leaderKillRate)) {
      const inc = node.incarnation;
      world.at(world.now + world.rng.int(1, 15), () => {
        if (node.incarnation !== inc) return;
        this.driver.crash(node);
        // Churn: it comes back soon, so that leaders keep changing over the same indexes (Figure 8).
        world.at(world.now + world.rng.int(5, 150), () => this.driver.restart(node));
      });
    }
  }

  /** The end of the faulty phase: all links up, all nodes running. */
  heal(): void {
    this.healed = true;
    this.network.heal();
    if (this.clients !== null) this.clients.steer = null;
    for (const n of this.world.nodes.values()) {
      n.tickMs = 10;
      n.disk.crashInReady = null;
    }
    for (const n of this.world.nodes.values()) this.driver.restart(n);
    this.world.trace('HEAL: all links up, all nodes running');
  }

  private liveIds(): NodeId[] {
    return [...this.world.nodes.values()].filter((n) => n.alive).map((n) => n.id);
  }

  /** With probability `chance` the leader (when there is one), otherwise one of `candidates`. */
  private leaderOr(chance: number, candidates: NodeId[]): SimNode | undefined {
    const l = this.world.rng.chance(chance) ? this.world.leader() : undefined;
    return l ?? (candidates.length > 0 ? this.world.nodes.get(this.world.rng.pick(candidates)) : undefined);
  }

  private injectFault(): void {
    const { world, network, driver } = this;
    const rng = world.rng;
    const ids = [...world.nodes.keys()];
    const r = rng.next();
    if (r < 0.15) {
      const side = rng.shuffle(ids.slice()).slice(0, rng.int(1, Math.floor(ids.length / 2)));
      network.partition(side);
      world.trace(`FAULT partition [${side}] | rest`);
    } else if (r < 0.22) {
      const l = world.leader();
      if (l !== undefined) {
        network.partition([l.id]);
        world.trace(`FAULT isolate leader ${l.id}`);
      }
    } else if (r < 0.3) {
      const a = rng.pick(ids);
      const b = rng.pick(ids.filter((x) => x !== a));
      network.blocked.add(`${a}>${b}`);
      network.lastSide = null;
      world.trace(`FAULT one-way loss ${a} -> ${b}`);
    } else if (r < 0.42) {
      network.blocked.clear();
      network.lastSide = null;
      world.trace('FAULT heal partitions');
    } else if (r < 0.5) {
      const live = this.liveIds();
      if (live.length > 0) driver.crash(world.nodes.get(rng.pick(live))!);
    } else if (r < 0.55) {
      // A crash inside a Ready: its messages left, its write did not finish (the leader, most often:
      // what it counted towards a commit must be what it had synced).
      const node = this.leaderOr(0.6, this.liveIds());
      if (node !== undefined) {
        node.disk.crashInNextWrite = true;
        world.trace(`FAULT ${node.id} will crash during its next write`);
      }
    } else if (r < 0.555) {
      // A pause longer than the election timeout: on waking, a leader still believes it leads.
      const node = this.leaderOr(0.7, this.liveIds().length > 0 ? this.liveIds() : ids)!;
      node.pausedUntil = world.now + rng.int(200, 1000);
      world.trace(`FAULT pause ${node.id} until ${node.pausedUntil}ms`);
    } else if (r < 0.58) {
      for (const n of world.nodes.values()) driver.crash(n);
      world.trace('FAULT crash all');
    } else if (r < 0.72) {
      const dead = [...world.nodes.values()].filter((n) => !n.alive);
      if (dead.length > 0) driver.restart(rng.pick(dead));
    } else if (r < 0.8) {
      this.leaderKillRate = this.churn ? 0.7 : rng.pick([0, 0.3, 0.6, 0.9]);
      world.trace(`FAULT new leaders crash soon after election with probability ${this.leaderKillRate}`);
    } else if (r < 0.85) {
      network.dropRate = rng.pick([0, 0.01, 0.05, 0.2]);
      network.dupRate = rng.pick([0, 0.02, 0.1]);
      network.maxDelay = rng.pick([2, 5, 20, 60]);
      world.trace(`FAULT network drop ${network.dropRate} dup ${network.dupRate} delay <= ${network.maxDelay}ms`);
    } else if (r < 0.9) {
      this.changeMembership();
    } else if (r < 0.93) {
      // A slow disk for a while: acknowledgements from faster peers arrive before the node's own sync.
      const node = this.leaderOr(0.5, ids)!;
      node.disk.writeMs = rng.pick<[number, number]>([
        [2, 10],
        [5, 40],
      ]);
      world.trace(`FAULT slow disk on ${node.id}: writes take ${node.disk.writeMs[0]}-${node.disk.writeMs[1]} ms`);
      world.at(world.now + rng.int(300, 2000), () => {
        node.disk.writeMs = [0, 3];
      });
    } else {
      const l = world.leader();
      if (l !== undefined) {
        const voters = l.core!.conf.voters.filter((v) => v !== l.id);
        if (voters.length > 0) {
          const to = rng.pick(voters);
          world.trace(`FAULT transfer leadership ${l.id} -> ${to}`);
          l.core!.transferLeadership(to);
          driver.afterEvent(l);
        }
      }
    }
  }

  /** Adds a learner (a new node, which joins with an empty configuration) or removes a voter, via the leader. */
  private changeMembership(): void {
    const { world, network, driver } = this;
    const l = world.leader();
    if (l === undefined) return;
    const core = l.core!;
    const conf = core.conf;
    try {
      if (conf.voters.length + conf.learners.length < 6 && (conf.voters.length < 4 || world.rng.chance(0.5))) {
        const id = `n${this.nextNodeNumber++}`;
        core.proposeConfChange({ type: 'addLearner', id, address: `sim://${id}` });
        world.trace(`FAULT add learner ${id} via ${l.id}`);
        driver.addNode(id, { voters: [], learners: [], addresses: {} });
        if (network.blocked.size > 0) network.partition([]);
      } else if (conf.voters.length > 3) {
        const victim = world.rng.pick(conf.voters);
        core.proposeConfChange({ type: 'remove', id: victim });
        world.trace(`FAULT remove ${victim} via ${l.id}`);
      } else return;
      world.stats.confChanges++;
      driver.afterEvent(l);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      world.trace(`membership change refused: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- the second series (own streams)

  /** One targeted fault now, then the next one 250-1200 ms later, until the faulty phase ends. */
  private scheduleTargetedFault(): void {
    if (this.healed || this.world.now >= this.world.opts.faultMs) return;
    const r = this.xrng.next();
    if (r < 0.35) this.armCrashInReady();
    else if (r < 0.65) this.cutOffLeaderFromPeers();
    else this.membershipRace();
    this.world.at(this.world.now + this.xrng.int(250, 1200), () => this.scheduleTargetedFault());
  }

  /**
   * A crash inside a Ready, aimed at the writes whose messages must wait for them: a vote (on a
   * voter other than the leader, often while an election is forced by cutting the leader off), an
   * append a follower will acknowledge, or any write. The node dies after the Ready's messages left
   * and before its write finished (see SimDisk.submit); a core that sent the vote or the
   * acknowledgement early has promised what the restarted node no longer has.
   */
  private armCrashInReady(): void {
    const { world, network, xrng } = this;
    const leader = world.leader();
    const live = [...world.nodes.values()].filter((n) => n.alive);
    const r = xrng.next();
    const kind: ReadyCrash['kind'] = r < 0.5 ? 'vote' : r < 0.85 ? 'append' : 'any';
    const candidates = live.filter((n) => n !== leader && (kind !== 'vote' || n.core!.isVoter()));
    if (candidates.length === 0) return;
    const victims = xrng.shuffle(candidates).slice(0, kind === 'vote' ? xrng.int(1, 2) : 1);
    for (const node of victims) {
      node.disk.crashInReady = { kind, rng: this.crashRng, fired: (k) => this.count(`crashInReady.${k}`) };
      world.trace(`FAULT ${node.id} will crash inside its next Ready writing ${kind === 'any' ? 'anything' : `a ${kind}`}`);
    }
    this.count('crashInReadyArmed');
    if (kind === 'vote' && leader !== undefined && xrng.chance(0.6)) {
      network.partition([leader.id]);
      world.trace(`FAULT isolate leader ${leader.id} (an election, for the armed vote crash)`);
    }
  }

  /**
   * The leader is cut off from its peers, not from its clients, for 300-1500 ms: half the clients
   * keep reading through it (its clock sometimes slow, so that it notices late that it lost its
   * quorum) while the others write through the leader the majority elects meanwhile. A cut-off
   * leader that answers a read without confirming its leadership serves old state.
   */
  private cutOffLeaderFromPeers(): void {
    const { world, network, xrng } = this;
    const l = world.leader();
    if (l === undefined || this.clients === null) return;
    network.partition([l.id]);
    const cut = [...network.blocked].sort().join();
    const until = world.now + xrng.int(300, 1500);
    l.tickMs = xrng.pick([10, 10, 20, 40]);
    const clients = xrng.shuffle([...Array(world.opts.clients).keys()]);
    const readers = new Set(clients.slice(0, Math.max(1, Math.floor(clients.length / 2))));
    this.clients.steer = { node: l.id, readers, until };
    this.count('staleLeader');
    world.trace(`FAULT cut off leader ${l.id} from its peers until ${until}ms (clients ${[...readers]} read through it, tick ${l.tickMs} ms)`);
    world.at(until, () => {
      l.tickMs = 10;
      if (this.healed) return;
      if ([...network.blocked].sort().join() === cut) {
        network.blocked.clear();
        network.lastSide = null;
        world.trace(`FAULT leader ${l.id} reconnected to its peers`);
      }
    });
  }

  /**
   * Back-to-back membership changes (add a learner, promote one, remove a voter, the leader itself
   * among them) proposed on several nodes within a few ms, often under a partition, and sometimes
   * late enough that the majority has elected a new leader while the old one still takes proposals.
   */
  private membershipRace(): void {
    const { world, network, xrng } = this;
    this.count('membershipRaces');
    const ids = [...world.nodes.keys()];
    const leader = world.leader();
    const p = xrng.next();
    if (p < 0.35) {
      const side = xrng.shuffle(ids.slice()).slice(0, xrng.int(1, Math.floor(ids.length / 2)));
      network.partition(side);
      world.trace(`FAULT partition [${side}] | rest (membership race)`);
    } else if (p < 0.7 && leader !== undefined) {
      network.partition([leader.id]);
      world.trace(`FAULT isolate leader ${leader.id} (membership race)`);
    }
    const start = world.now + (xrng.chance(0.4) ? xrng.int(200, 600) : 0);
    const k = xrng.int(2, 4);
    for (let i = 0; i < k; i++) world.at(start + xrng.int(0, 40), () => this.proposeRacingChange());
  }

  /** One change of a race, proposed on a node that believes it leads (or, sometimes, any live node: it refuses). */
  private proposeRacingChange(): void {
    const { world, network, driver, xrng } = this;
    if (this.healed) return;
    const live = [...world.nodes.values()].filter((n) => n.alive);
    const leaders = live.filter((n) => n.core!.role === 'leader');
    if (live.length === 0) return;
    const node = leaders.length > 0 && xrng.chance(0.8) ? xrng.pick(leaders) : xrng.pick(live);
    const core = node.core!;
    const conf = core.conf;
    const r = xrng.next();
    let change: ConfChange;
    if (r < 0.3 && conf.voters.length + conf.learners.length < 7) {
      const id = `n${this.nextNodeNumber++}`;
      change = { type: 'addLearner', id, address: `sim://${id}` };
    } else if (r < 0.55 && conf.learners.length > 0) {
      change = { type: 'promote', id: xrng.pick(conf.learners) };
    } else if (r < 0.7 && conf.voters.length > 2 && core.role === 'leader') {
      change = { type: 'remove', id: node.id };
    } else if (r < 0.9 && conf.voters.length > 2) {
      change = { type: 'remove', id: xrng.pick(conf.voters) };
    } else if (conf.learners.length > 0) {
      change = { type: 'remove', id: xrng.pick(conf.learners) };
    } else return;
    this.count('raceProposals');
    if (!this.proposeChange(node, change, 'race')) {
      this.count('raceRefused');
      return;
    }
    world.trace(`FAULT race: ${change.type} ${change.id} via ${node.id} (term ${core.term})`);
    if (change.type === 'addLearner') {
      driver.addNode(change.id, { voters: [], learners: [], addresses: {} });
      // The new node joins the side of the partition that does not name it.
      if (network.blocked.size > 0) network.partition(network.lastSide ?? []);
    }
    driver.afterEvent(node);
  }

  // ---------------------------------------------------------------- the third series (own stream)

  /** One election-window fault now, then another 800-2000 ms later, until the faulty phase ends. */
  private scheduleElectionWindowFault(): void {
    if (this.healed || this.world.now >= this.world.opts.faultMs) return;
    this.electionWindowFault();
    this.world.at(this.world.now + this.windowRng.int(800, 2000), () => this.scheduleElectionWindowFault());
  }

  /**
   * A configuration change right after an election, before the new leader has committed an entry of
   * its term. The leader of a 4-voter configuration proposes removing a voter and is cut off at once,
   * so that the change stays uncommitted in its log; the next leader elected proposes removing another
   * voter the moment it wins (see onLeaderElected). Both changes are made from the same configuration
   * and two removals of four leave disjoint majorities, which the configuration check sees at once:
   * only the rule that a leader commits an entry of its term first (the core refuses the second change
   * until then) makes the first change dead before the second is made. Other sizes are brought
   * towards four voters first: a removal from five, a promotion (or a new learner) with three.
   */
  private electionWindowFault(): void {
    const { world, network, driver } = this;
    const rng = this.windowRng;
    const l = world.leader();
    if (l === undefined) return;
    const core = l.core!;
    const { voters, learners } = core.conf;
    const others = voters.filter((v) => v !== l.id);
    let change: ConfChange;
    if (voters.length === 4 || voters.length === 5) change = { type: 'remove', id: rng.pick(others) };
    else if (voters.length === 3 && learners.length > 0) change = { type: 'promote', id: rng.pick(learners) };
    else if (voters.length === 3) {
      const id = `n${this.nextNodeNumber++}`;
      change = { type: 'addLearner', id, address: `sim://${id}` };
    } else return;
    this.count('electionWindow');
    if (!this.proposeChange(l, change, 'election window')) return;
    if (change.type === 'addLearner') {
      driver.addNode(change.id, { voters: [], learners: [], addresses: {} });
      if (network.blocked.size > 0) network.partition(network.lastSide ?? []);
    }
    if (voters.length === 4) {
      // Cut off before its appends of the change leave: the change stays in its log alone.
      network.partition([l.id]);
      this.changeOnElection = { oldLeader: l.id, removed: change.id, until: world.now + 1500 };
      this.count('electionWindowArmed');
    }
    world.trace(`FAULT election window: ${change.type} ${change.id} via ${l.id} (term ${core.term})${voters.length === 4 ? `, ${l.id} cut off; the next leader proposes a removal at once` : ''}`);
    driver.afterEvent(l);
  }

  /** The armed second change: `node` has just won its election; the core must refuse any change yet. */
  private proposeInElectionWindow(node: SimNode, removed: NodeId): void {
    const core = node.core;
    if (this.healed || core === null || core.role !== 'leader') return;
    const candidates = core.conf.voters.filter((v) => v !== node.id && v !== removed);
    if (candidates.length === 0) return;
    const victim = this.windowRng.pick(candidates);
    if (!this.proposeChange(node, { type: 'remove', id: victim }, 'election window, at its election')) {
      this.count('electionWindowRefused');
      return;
    }
    this.world.trace(`FAULT election window: remove ${victim} via ${node.id} at its election (term ${core.term})`);
    this.driver.afterEvent(node);
  }

  /** Proposes `change` on `node`'s core; a refusal (a RaftError) is traced under `fault` and returns false. */
  private proposeChange(node: SimNode, change: ConfChange, fault: string): boolean {
    try {
      node.core!.proposeConfChange(change);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.world.trace(`FAULT ${fault}: ${change.type} ${change.id} via ${node.id} refused: ${err.message}`);
      return false;
    }
    this.world.stats.confChanges++;
    return true;
  }
}
