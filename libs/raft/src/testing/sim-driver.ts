import { ConfState, EntryType, Message, NodeId, RaftCore, RaftError, Role, SnapshotMeta } from '../core';
import { DurableWrite, ReadyPorts, ReadyProcessor } from '../runtime/ready-processor';
import type { InvariantChecker } from './sim-checks';
import type { PendingWrite } from './sim-disk';
import type { SimNetwork } from './sim-network';
import { SimNode } from './sim-node';
import type { CommandResult, SimMachineFactory, SimMachineHost } from './sim-state-machine';
import type { SimWorld } from './sim-world';

const TICK_MS = 10;
/** Every node snapshots at multiples of this index, so replica states can be compared there. */
const COMPACTION_THRESHOLD = 40;

/** The core's flow-control settings, drawn per seed. */
export interface CoreTuning {
  maxAppendBytes: number;
  maxInflight: number;
}

/**
 * Runs the nodes the way the runtime does: each node's core is driven by the runtime's own
 * ReadyProcessor, whose ports here lead to the virtual disk, the simulated network and the node's
 * state machine instead of the WAL and the transport, so the simulation checks the real pipelining
 * of writes, sends and applies. Also boots, crashes and restarts nodes (a restart reads only what
 * reached the disk).
 *
 * A state machine whose applies return promises (the CQRS one) makes a Ready's processing finish in
 * microtasks after the event that began it: {@link settle} lets them run to the end before the next
 * event, so that the run stays one deterministic sequence of events.
 */
export class NodeDriver {
  /** Called when a node becomes leader (the fault injector may crash it at once). */
  onLeaderElected: (node: SimNode) => void = () => undefined;
  /** Set per seed by the faults: every node snapshots at multiples of this index. */
  compactEvery = COMPACTION_THRESHOLD;
  /** Set per seed by the faults: every node ticks at multiples of TICK_MS (no phase between clocks). */
  lockstep = false;
  /** Applies whose promises have not settled yet. */
  private readonly applying = new Set<Promise<CommandResult>>();
  /** Whether any apply returned a promise (until one does, no Ready can be left half-finished after an event). */
  private asyncApplies = false;

  constructor(
    private readonly world: SimWorld,
    private readonly network: SimNetwork,
    private readonly checks: InvariantChecker,
    private readonly coreTuning: CoreTuning,
    /** The runtime's `readiesInFlight`: one Ready at a time (its default) or pipelined writes. */
    private readonly readiesInFlight: number,
    private readonly newMachine: SimMachineFactory,
  ) {}

  /** Adds a node with an empty disk (whose initial configuration is `conf`) and boots it. */
  addNode(id: NodeId, conf: ConfState): SimNode {
    const node = new SimNode(id, conf);
    this.world.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    const world = this.world;
    node.incarnation++;
    const rng = world.rng.fork();
    const disk = node.disk;
    const machine = (node.machine = this.newMachine(this.machineHost(node)));
    node.core = new RaftCore(
      { id: node.id, electionTicks: [15, 30], heartbeatTicks: 5, random: () => rng.next(), snapshotChunkSize: machine.snapshotChunkBytes, ...this.coreTuning },
      { hardState: { ...disk.hardState }, snapshot: disk.snapshot, entries: disk.entries.slice() },
    );
    machine.restore(disk.snapshotData);
    node.processor = new ReadyProcessor(node.core, this.readyPorts(node), { hardState: { ...disk.hardState }, applied: disk.snapshot.index }, this.readiesInFlight);
    this.checks.nodeBooted(node);
    disk.mount();
    node.checkedCommit = 0;
    node.leaderCheckedCommit = 0;
    node.pendingWrites.clear();
    node.pendingReads.clear();
    node.incoming = null;
    const inc = node.incarnation;
    const tick = (): void => {
      if (node.incarnation !== inc || node.core === null) return;
      if (world.now < node.pausedUntil) {
        world.at(node.pausedUntil, tick);
        return;
      }
      const before = this.checks.beforeTick(node.core);
      node.core.tick();
      this.checks.afterTick(node, before);
      this.afterEvent(node);
      world.at(world.now + node.tickMs, tick);
    };
    const phase = world.rng.int(1, TICK_MS);
    world.at(this.lockstep ? world.now + TICK_MS - (world.now % TICK_MS) : world.now + phase, tick);
  }

  /** Runs `fn` now, or when the node resumes if it is paused (its kernel buffers what arrives meanwhile). */
  whenRunning(node: SimNode, fn: () => void): void {
    if (this.world.now < node.pausedUntil) this.world.at(node.pausedUntil + 1, fn);
    else fn();
  }

  /** A message the network delivers to a live node. */
  receive(to: SimNode, m: Message): void {
    this.whenRunning(to, () => {
      const core = to.core;
      if (core === null) return;
      const before = this.checks.beforeStep(core, m);
      core.step(m);
      this.checks.afterStep(to, m, before);
      this.afterEvent(to);
    });
  }

  crash(node: SimNode): void {
    if (!node.alive) return;
    const world = this.world;
    world.trace(`${node.id} CRASH (term ${node.core!.term}, ${node.core!.role})`);
    world.stats.crashes++;
    const torn = node.disk.crash(world.rng);
    if (torn !== null) {
      const { landed, whole } = torn;
      world.stats.tornWrites++;
      world.trace(`${node.id} crash tears a write: ${landed.snapshot === null ? '' : 'snapshot, '}${landed.hardState === null ? '' : 'hard state, '}${landed.entries.length} of ${whole.entries.length} entries land`);
    }
    node.core = null;
    node.machine = null;
    node.incarnation++;
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  restart(node: SimNode): void {
    if (node.alive) return;
    this.world.trace(`${node.id} RESTART from disk (term ${node.disk.hardState.term}, snapshot ${node.disk.snapshot.index}, ${node.disk.entries.length} entries)`);
    this.boot(node);
    this.afterEvent(node);
  }

  /** Begins Readies while the node has one and its processor takes more (writes are pipelined, as in the runtime). */
  afterEvent(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    this.checks.noteReadArrivals(node);
    this.checks.checkNode(node);
    const processor = node.processor!;
    while (node.core === core && processor.canBegin() && core.hasReady()) {
      const rd = core.ready();
      this.checks.checkReady(node, rd);
      if (rd.committed.length > 0) this.world.trace(`${node.id} hands out ${rd.committed[0].index}..${rd.committed[rd.committed.length - 1].index} for apply`);
      processor.begin(rd);
    }
  }

  private readyPorts(node: SimNode): ReadyPorts<CommandResult> {
    const world = this.world;
    return {
      softState: (soft) => this.onSoftState(node, soft.role, soft.leaderId),
      send: (messages) => {
        for (const m of messages) {
          this.checks.checkSent(node, m);
          this.network.send(node, m);
        }
      },
      writeSnapshotChunks: (chunks, written) => {
        for (const chunk of chunks) {
          if (chunk.offset === 0) node.incoming = new Uint8Array(chunk.meta.size);
          node.incoming!.set(chunk.data, chunk.offset);
        }
        written();
      },
      persist: (write, durable) => this.persist(node, write, durable),
      restoreSnapshot: (meta) => {
        world.trace(`${node.id} installs snapshot ${meta.index}/${meta.term}`);
        this.checks.checkSnapshotRestore(node, meta.index);
        node.machine!.restore(node.disk.snapshotData);
        this.checks.compareState(node, meta.index, node.machine!.comparable());
      },
      apply: (e) => {
        if (e.index !== node.applied + 1) world.violation(`${node.id} applies ${e.index} after ${node.applied}`);
        if (e.type !== EntryType.Normal) return null;
        const result = node.machine!.apply(e);
        if (result instanceof Promise) {
          this.asyncApplies = true;
          this.applying.add(result);
          const done = (): void => void this.applying.delete(result);
          result.then(done, done);
        }
        return result;
      },
      onApplied: (e, result) => {
        const pending = node.pendingWrites.get(e.index);
        if (pending !== undefined) {
          node.pendingWrites.delete(e.index);
          if (pending.term === e.term && result !== null) pending.reply({ ok: true, value: result });
          else pending.reply({ ok: false, leaderHint: node.core!.leaderId });
        }
        // A snapshot accepted from the leader but not yet installed already covers this index: skip.
        if (e.index % this.compactEvery === 0 && e.index > node.core!.log.snapshot.index) this.takeSnapshot(node);
      },
      readFailed: (requestId) => {
        world.trace(`${node.id} read ${requestId} failed`);
        node.pendingReads.get(requestId)?.reply({ ok: false, leaderHint: node.core!.leaderId });
        node.pendingReads.delete(requestId);
      },
      finished: () => this.afterEvent(node),
      // A port failed (also inside an apply's promise, where a throw would go unhandled): the run fails.
      fail: (err) => world.violation(`exception: ${err.stack ?? err.message}`),
      serveRead: (requestId, index) => {
        this.checks.checkReadServed(node, requestId, index);
        const read = node.pendingReads.get(requestId);
        node.pendingReads.delete(requestId);
        world.trace(`${node.id} serves read ${requestId} at applied ${node.applied}`);
        read?.reply({ ok: true, value: node.machine!.read(read.key) });
      },
    };
  }

  /** Whether an apply's promise, or the Ready it belongs to, is still to finish. */
  get settling(): boolean {
    if (!this.asyncApplies) return false;
    if (this.applying.size > 0) return true;
    for (const n of this.world.nodes.values()) if (n.processor?.isFinishing === true) return true;
    return false;
  }

  /** Runs the microtasks of pending applies until every Ready they belong to has finished. */
  async settle(): Promise<void> {
    for (let turns = 0; this.settling; turns++) {
      if (turns > 100_000) throw new Error('an apply did not settle through microtasks (does it wait for a timer or I/O?)');
      await Promise.resolve();
    }
  }

  /** What the state machine of this incarnation of `node` may do: a proposal waits for the end of the current event. */
  private machineHost(node: SimNode): SimMachineHost {
    const world = this.world;
    const inc = node.incarnation;
    return {
      id: node.id,
      isLeader: () => node.incarnation === inc && node.core?.role === 'leader',
      now: () => world.now,
      propose: (data) =>
        world.at(world.now, () => {
          const core = node.core;
          if (node.incarnation !== inc || core === null || core.role !== 'leader') return;
          try {
            core.propose(data);
          } catch (err) {
            if (!(err instanceof RaftError)) throw err;
            return;
          }
          this.afterEvent(node);
        }),
      violation: (what) => world.violation(`${node.id}: ${what}`),
      count: (name) => void (world.stats.machine[name] = (world.stats.machine[name] ?? 0) + 1),
    };
  }

  /**
   * The `persist` port: the write goes to the virtual disk, and `durable` is called when it lands.
   * If the disk picked this write as a crash point, the node crashes (and soon restarts) before that.
   */
  private persist(node: SimNode, write: DurableWrite, durable: () => void): void {
    const world = this.world;
    const pending: PendingWrite = { write, snapshotData: write.snapshot === null ? null : node.incoming };
    if (write.snapshot !== null) node.incoming = null;
    const { completesAt, crashAt } = node.disk.submit(pending, world.now, world.rng);
    const inc = node.incarnation;
    if (crashAt !== null) {
      world.at(crashAt, () => {
        if (node.incarnation !== inc) return;
        world.trace(`FAULT ${node.id} crashes with ${node.disk.inFlight.length} writes in flight`);
        this.crash(node);
        world.at(world.now + world.rng.int(5, 150), () => this.restart(node));
      });
    }
    world.at(completesAt, () => {
      if (node.incarnation !== inc || node.core === null) return;
      if (!node.disk.complete(pending)) world.violation(`${node.id}: virtual writes completed out of order`);
      durable();
    });
  }

  private onSoftState(node: SimNode, role: Role, leaderId: NodeId | null): void {
    this.world.trace(`${node.id} ${role} term ${node.core!.term} leader ${leaderId ?? '-'}`);
    if (role !== 'leader') return;
    this.world.stats.elections++;
    this.onLeaderElected(node);
  }

  /** The state machine's snapshot at an index every replica snapshots at: compared, written, and the log compacted. */
  private takeSnapshot(node: SimNode): void {
    const core = node.core!;
    const index = node.applied;
    const data = node.machine!.snapshot();
    this.checks.compareState(node, index, node.machine!.comparable());
    const meta: SnapshotMeta = { index, term: core.log.term(index), conf: core.confAt(index), size: data.length };
    node.disk.saveSnapshot(meta, data);
    core.compact(meta);
  }
}

