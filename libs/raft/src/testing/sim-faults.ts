import { NodeId, RaftError } from '../core';
import type { NodeDriver } from './sim-driver';
import type { SimNetwork } from './sim-network';
import type { SimNode } from './sim-node';
import type { SimWorld } from './sim-world';

/**
 * The nemesis of the faulty phase: at random intervals it partitions the network, cuts single links,
 * changes loss, duplication and delay, crashes nodes (also inside a write, or all at once), pauses
 * them, slows their disks, changes membership and transfers leadership; then it heals everything,
 * after which the cluster must recover on its own.
 */
export class FaultInjector {
  private healed = false;
  /** While set, a node that just became leader is crashed within a few ms with this probability. */
  private leaderKillRate: number;
  /** The number of the next node added (a refused change uses one up too). */
  private nextNodeNumber: number;

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
      world.trace(`FAULT one-way loss ${a} -> ${b}`);
    } else if (r < 0.42) {
      network.blocked.clear();
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
}
