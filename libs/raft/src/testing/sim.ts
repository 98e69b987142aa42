import { ConfState } from '../core';
import { InvariantChecker } from './sim-checks';
import { CoreTuning, NodeDriver } from './sim-driver';
import { FaultInjector } from './sim-faults';
import { SimNetwork } from './sim-network';
import { ClientWorkload } from './sim-workload';
import { SimOptions, SimResult, SimWorld } from './sim-world';

export type { SimOptions, SimResult, SimStats } from './sim-world';
export type { Command, CommandResult, SimMachineFactory, SimMachineHost, SimStateMachine } from './sim-state-machine';
export { KvStateMachine } from './sim-state-machine';

/**
 * A deterministic simulation of a Raft cluster: virtual time, a seeded network that drops, delays,
 * duplicates, reorders and partitions messages (sim-network.ts), nodes that crash and restart from
 * what reached their disks (sim-disk.ts, sim-node.ts, sim-driver.ts), membership changes and
 * leadership transfers (sim-faults.ts), and clients that write and read all the while
 * (sim-workload.ts). Safety invariants are checked after every event; linearizability and liveness
 * at the end (sim-checks.ts).
 *
 * This file wires those parts together and runs the event loop. Everything random is drawn from the
 * seed in event order, so a seed replays exactly: a change that adds, drops or reorders a draw
 * changes every seed's run after it.
 */
export class Simulation {
  private readonly world: SimWorld;
  private readonly network: SimNetwork;
  private readonly checks: InvariantChecker;
  private readonly driver: NodeDriver;
  private readonly faults: FaultInjector;
  private readonly workload: ClientWorkload;

  constructor(options: SimOptions) {
    const world = (this.world = new SimWorld(options));
    const rng = world.rng;
    let coreTuning: CoreTuning = { maxAppendBytes: rng.pick([64, 512, 4096]), maxInflight: rng.pick([1, 4, 16]) };
    const readiesInFlight = rng.pick([1, 4]);
    let n = rng.chance(0.5) ? 3 : 5;
    const churn = rng.chance(0.25);
    this.network = new SimNetwork(world, (to, m) => this.driver.receive(to, m));
    if (churn) {
      // Churn profile: leaders die within milliseconds of election on a lossy network, one entry per
      // append, so that entries of several terms pile up at the same indexes (the Figure 8 shape).
      n = 3;
      this.network.dropRate = 0.1;
      this.network.maxDelay = 20;
      coreTuning = { maxAppendBytes: 1, maxInflight: 1 };
    }
    this.checks = new InvariantChecker(world, {
      linkUp: (from, to) => !this.network.blocked.has(`${from}>${to}`),
      lossless: () => this.network.dropRate === 0,
    });
    this.driver = new NodeDriver(world, this.network, this.checks, coreTuning, readiesInFlight, world.opts.machine);
    this.faults = new FaultInjector(world, this.network, this.driver, churn, n);
    this.driver.onLeaderElected = (node) => this.faults.onLeaderElected(node);
    this.workload = new ClientWorkload(world, this.driver);
    this.faults.clients = this.workload;
    const conf: ConfState = { voters: [], learners: [], addresses: {} };
    for (let i = 1; i <= n; i++) conf.voters.push(`n${i}`);
    for (const id of conf.voters) this.driver.addNode(id, conf);
  }

  /** Runs to the end of the heal period; async only because a state machine's applies may be (see NodeDriver.settle). */
  async run(): Promise<SimResult> {
    const world = this.world;
    try {
      this.start();
      const end = world.opts.faultMs + world.opts.healMs;
      while (world.violations.length === 0) {
        const ev = world.queue.pop();
        if (ev === undefined || ev.time > end) break;
        world.now = ev.time;
        world.stats.events++;
        ev.item();
        if (this.driver.settling) await this.driver.settle();
      }
      if (world.violations.length === 0) this.checks.finalChecks(this.workload.history, this.workload.lastWriteOkAt);
    } catch (err) {
      world.violation(`exception: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    return { seed: world.opts.seed, violations: world.violations, trace: world.traceLines, stats: world.stats };
  }

  private start(): void {
    const world = this.world;
    for (let c = 0; c < world.opts.clients; c++) this.workload.startClient(c);
    this.faults.scheduleFault(world.rng.int(200, 800));
    world.at(world.opts.faultMs, () => this.faults.heal());
  }
}

export function runSeed(seed: number, options: Omit<SimOptions, 'seed'> = {}): Promise<SimResult> {
  return new Simulation({ seed, ...options }).run();
}
