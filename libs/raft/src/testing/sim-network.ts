import { Message, NodeId } from '../core';
import type { Rng } from './rng';
import type { SimNode } from './sim-node';
import type { SimWorld } from './sim-world';

/**
 * The simulated network and its faults: every message takes a random delay (so messages overtake
 * each other), may be dropped or duplicated, and directed links can be cut (partitions, one-way
 * loss). Its random draws come from the world's network stream only.
 */
export class SimNetwork {
  /** Directed links (`from>to`) that drop everything (partitions, one-way loss). */
  readonly blocked = new Set<string>();
  dropRate = 0;
  dupRate = 0;
  maxDelay = 5;
  /** Lockstep seeds: every message takes exactly this long (no jitter), whatever `maxDelay` says. */
  fixedDelay: number | null = null;
  /**
   * Old snapshot traffic (a fault set per seed): the network keeps copies of snapshot chunks and their
   * answers and delivers them again, once or twice, 50-3000 ms later, when the follower has often
   * caught up by appends since. Draws come from `replay.rng` only, so that other draws stay put.
   */
  replay: { rate: number; rng: Rng } | null = null;
  /** The side of the last `partition` (a node added later joins the other side). */
  lastSide: NodeId[] | null = null;

  /** `deliver` hands a message that arrived to its node (which may be paused). */
  constructor(
    private readonly world: SimWorld,
    private readonly deliver: (to: SimNode, m: Message) => void,
  ) {}

  send(from: SimNode, m: Message): void {
    const world = this.world;
    world.stats.messages++;
    if (m.type === 'snapshot') {
      // The driver fills chunk bytes from its snapshot store; the core only chose the range.
      if (from.disk.snapshot.index !== m.meta.index) return;
      m = { ...m, data: from.disk.snapshotData.subarray(m.offset, m.offset + m.length) };
      if (m.offset === 0) world.stats.snapshotsSent++;
    }
    const link = `${m.from}>${m.to}`;
    if (this.blocked.has(link) || world.netRng.chance(this.dropRate)) return;
    const copies = world.netRng.chance(this.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = world.netRng.int(1, this.maxDelay);
      this.deliverAt(world.now + (this.fixedDelay ?? delay), m);
    }
    const replay = this.replay;
    if (replay !== null && (m.type === 'snapshot' || m.type === 'snapshot-resp') && replay.rng.chance(replay.rate)) {
      const again = replay.rng.int(1, 2);
      for (let i = 0; i < again; i++) {
        this.deliverAt(world.now + replay.rng.int(50, 3000), m, () => {
          world.stats.faults.snapshotReplays = (world.stats.faults.snapshotReplays ?? 0) + 1;
          world.trace(`FAULT late copy of ${m.type} ${m.from} -> ${m.to}${m.type === 'snapshot' ? ` (snapshot ${m.meta.index} offset ${m.offset})` : ''}`);
        });
      }
    }
  }

  private deliverAt(time: number, m: Message, onDeliver?: () => void): void {
    const world = this.world;
    const link = `${m.from}>${m.to}`;
    world.at(time, () => {
      // A partition that started while the message was on its way drops it too.
      const to = world.nodes.get(m.to);
      if (to === undefined || to.core === null || this.blocked.has(link)) return;
      onDeliver?.();
      this.deliver(to, m);
    });
  }

  /** Cuts every link between `side` and the other nodes, both ways, and heals every other cut. */
  partition(side: NodeId[]): void {
    this.lastSide = side;
    this.blocked.clear();
    for (const a of this.world.nodes.keys()) {
      for (const b of this.world.nodes.keys()) {
        if (side.includes(a) !== side.includes(b)) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  /** All links up, no loss, no duplicates, short delays. */
  heal(): void {
    this.lastSide = null;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.maxDelay = 5;
  }
}
