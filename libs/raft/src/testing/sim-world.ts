import { NodeId } from '../core';
import { EventQueue, Rng } from './rng';
import type { SimNode } from './sim-node';
import { KvStateMachine, SimMachineFactory } from './sim-state-machine';

export interface SimOptions {
  seed: number;
  /** Virtual ms of the faulty phase. */
  faultMs?: number;
  /** Virtual ms after healing within which the cluster must be live again. */
  healMs?: number;
  clients?: number;
  trace?: boolean;
  /** Each node's state machine, made anew at every boot (default: the simulator's key-value model). */
  machine?: SimMachineFactory;
}

export interface SimStats {
  events: number;
  messages: number;
  ops: number;
  okWrites: number;
  okReads: number;
  unknown: number;
  elections: number;
  crashes: number;
  /** Crashes that left part of a write on the disk. */
  tornWrites: number;
  snapshotsSent: number;
  confChanges: number;
  /** How long after the heal the cluster first settled (one leader that every member follows); -1: never. */
  settledMs: number;
  finalCommit: number;
  /** How often each fault of sim-faults.ts and the network's late copies fired, by name. */
  faults: Record<string, number>;
  /** What the nodes' state machines counted, by name (see SimMachineHost.count). */
  machine: Record<string, number>;
}

export interface SimResult {
  seed: number;
  violations: string[];
  trace: string[];
  stats: SimStats;
}

/**
 * What every part of one simulation run shares: virtual time and its queue of events, the seeded
 * random sources, the nodes, and what the run reports (counters, trace, violations).
 *
 * All randomness outside the network comes from `rng`, drawn in event order, so that a seed replays
 * exactly; the network draws from its own stream (`netRng`), so that how many messages a change makes
 * the nodes send does not shift every other decision of the run.
 */
export class SimWorld {
  readonly opts: Required<SimOptions>;
  readonly rng: Rng;
  readonly netRng: Rng;
  readonly queue = new EventQueue<() => void>();
  now = 0;
  /** Every node ever added, in the order added (iteration order is part of what a seed replays). */
  readonly nodes = new Map<NodeId, SimNode>();
  readonly violations: string[] = [];
  readonly traceLines: string[] = [];
  readonly stats: SimStats = {
    events: 0,
    messages: 0,
    ops: 0,
    okWrites: 0,
    okReads: 0,
    unknown: 0,
    elections: 0,
    crashes: 0,
    tornWrites: 0,
    snapshotsSent: 0,
    confChanges: 0,
    settledMs: -1,
    finalCommit: 0,
    faults: {},
    machine: {},
  };

  constructor(options: SimOptions) {
    this.opts = { faultMs: 8000, healMs: 6000, clients: 4, trace: false, ...options, machine: options.machine ?? (() => new KvStateMachine()) };
    const root = new Rng(options.seed);
    this.rng = root.fork();
    this.netRng = root.fork();
  }

  /** Schedules `fn` at virtual time `time`; events at the same time run in the order scheduled. */
  at(time: number, fn: () => void): void {
    this.queue.push(time, fn);
  }

  trace(line: string): void {
    if (this.opts.trace) this.traceLines.push(`${String(this.now).padStart(6)}ms ${line}`);
  }

  violation(what: string): void {
    this.violations.push(`t=${this.now}ms ${what}`);
    this.trace(`VIOLATION ${what}`);
  }

  /** The live leader of the highest term, if any (a deposed leader that has not heard so yet may coexist). */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.core?.role === 'leader' && (best === undefined || n.core.term > best.core!.term)) best = n;
    }
    return best;
  }
}
