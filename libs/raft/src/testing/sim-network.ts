import { Message, NodeId, SnapshotChunk } from '../core';
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
  /**
   * Old whole snapshot transfers (a fault set per seed): the network keeps the whole snapshot a leader
   * starts sending to a follower (every chunk of it, cut as the leader cuts them) and delivers all of
   * it again, in order, once the follower's commit index has moved past that snapshot's index while
   * the follower has not compacted up to it: the window in which only the commit-index check keeps a
   * follower from installing an older snapshot and going back in time. Draws come from
   * `transferReplay.rng` only, so that other draws stay put.
   */
  transferReplay: { rng: Rng } | null = null;
  /** Per follower, the whole transfers kept for a replay (the latest few). */
  private readonly keptTransfers = new Map<NodeId, { chunks: SnapshotChunk[]; at: number }[]>();
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
      if (m.offset === 0) {
        world.stats.snapshotsSent++;
        this.keepTransfer(from, m);
      }
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
      if (this.transferReplay !== null) this.maybeReplayTransfer(to);
    });
  }

  /** Keeps the whole snapshot whose first chunk `first` the leader `from` is sending: every chunk of it, as the leader cuts them. */
  private keepTransfer(from: SimNode, first: SnapshotChunk): void {
    if (this.transferReplay === null) return;
    const data = from.disk.snapshotData;
    const size = first.meta.size;
    const step = Math.max(1, first.length);
    const chunks: SnapshotChunk[] = [];
    for (let offset = 0; ; offset += step) {
      const length = Math.min(step, size - offset);
      chunks.push({ ...first, offset, length, data: data.subarray(offset, offset + length), done: offset + length >= size });
      if (offset + length >= size) break;
    }
    const kept = this.keptTransfers.get(first.to) ?? [];
    kept.push({ chunks, at: this.world.now });
    if (kept.length > 4) kept.shift();
    this.keptTransfers.set(first.to, kept);
    this.world.stats.faults.snapshotTransfersKept = (this.world.stats.faults.snapshotTransfersKept ?? 0) + 1;
  }

  /**
   * After a delivery to `to`: a kept transfer of a snapshot below its commit index and above its own
   * snapshot's arrives again within a millisecond, every chunk in order (an earlier attempt arriving
   * late, after the follower caught up by appends). Each kept transfer is replayed at most once.
   */
  private maybeReplayTransfer(to: SimNode): void {
    const kept = this.keptTransfers.get(to.id);
    const log = to.core?.log;
    if (kept === undefined || log === undefined) return;
    const i = kept.findIndex(({ chunks }) => chunks[0].meta.index < log.commit && chunks[0].meta.index > log.snapshot.index);
    if (i < 0) return;
    const [{ chunks, at: keptAt }] = kept.splice(i, 1);
    const world = this.world;
    const at = world.now + this.transferReplay!.rng.int(0, 1);
    for (const c of chunks) {
      this.deliverAt(at, c, c.offset !== 0 ? undefined : () => {
        world.stats.faults.snapshotTransferReplays = (world.stats.faults.snapshotTransferReplays ?? 0) + 1;
        world.trace(`FAULT old snapshot transfer ${c.from} -> ${c.to} again (snapshot ${c.meta.index} of t=${keptAt}ms, ${chunks.length} chunks; commit ${log.commit})`);
      });
    }
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
