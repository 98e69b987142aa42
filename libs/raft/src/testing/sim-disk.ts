import { ConfState, Entry, HardState, SnapshotMeta } from '../core';
import type { DurableWrite } from '../runtime/ready-processor';
import type { Rng } from './rng';

/** A write handed to the disk by the node's `persist` port, not yet known durable. */
export interface PendingWrite {
  write: DurableWrite;
  /** The bytes of the snapshot it installs, taken when it was handed over. */
  snapshotData: Uint8Array | null;
}

/** When a write handed to the disk completes, and when the node crashes meanwhile (a crash point). */
export interface WriteSchedule {
  completesAt: number;
  crashAt: number | null;
}

/**
 * A crash point armed inside a Ready (a fault): the node dies during the first write handed over
 * that matches `kind`, after the Ready's messages left. `vote`: a write recording a vote (a new
 * term and vote in its hard state); `append`: a write of entries the leader is waiting to hear are
 * durable; `any`: the next write. Its draws come from `rng`, the faults' own stream.
 */
export interface ReadyCrash {
  kind: 'vote' | 'append' | 'any';
  rng: Rng;
  /** Called when the armed crash matched a write (for the run's counters). */
  fired: (kind: ReadyCrash['kind']) => void;
}

/** What a crash left of the one write it interrupted half-way. */
export interface TornWrite {
  landed: DurableWrite;
  whole: DurableWrite;
}

/**
 * One node's virtual disk: what is durable on it (`hardState`, `snapshot`, `snapshotData`,
 * `entries`, which is all a restart reads), and the writes in flight towards it.
 *
 * Writes complete in the order they were handed over, each after a random delay, as with a single
 * WAL file synced in order. A crash may leave some of the writes in flight on the disk and tear the
 * next one (see `crash`), which is what makes acknowledging or counting a write before it is durable
 * show up as a lost entry.
 */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: SnapshotMeta;
  snapshotData: Uint8Array = new Uint8Array(0);
  entries: Entry[] = [];
  /** Writes handed to the virtual disk, oldest first; each lands when it completes, in this order. */
  inFlight: PendingWrite[] = [];
  /** When the newest write completes: a later one never completes before it. */
  lastWriteAt = 0;
  /** How long a write takes, in ms (a slow disk fault widens it). */
  writeMs: [number, number] = [0, 3];
  /** Set by a fault: the node crashes while its next write is in flight. */
  crashInNextWrite = false;
  /** Set by a fault: the node crashes inside the first matching write (see {@link ReadyCrash}). */
  crashInReady: ReadyCrash | null = null;

  constructor(conf: ConfState) {
    this.snapshot = { index: 0, term: 0, conf, size: 0 };
  }

  /** A node (re)starts: nothing of its previous incarnation is still being written. */
  mount(): void {
    this.inFlight = [];
    this.lastWriteAt = 0;
  }

  /**
   * Takes a write and decides when it completes. A write the node is to crash in stalls, so that
   * peers' acknowledgements can arrive before it; the crash then comes before it completes.
   */
  submit(pending: PendingWrite, now: number, rng: Rng): WriteSchedule {
    const armed = this.crashInReady;
    if (armed !== null && !this.crashInNextWrite && this.matches(armed.kind, pending.write)) {
      // Drawn from the fault's own stream: the world's draws stay where they were.
      this.crashInReady = null;
      armed.fired(armed.kind);
      this.inFlight.push(pending);
      const stall = armed.rng.int(2, 30);
      const completesAt = Math.max(this.lastWriteAt, now + armed.rng.int(this.writeMs[0], this.writeMs[1]) + stall);
      this.lastWriteAt = completesAt;
      // At `now` itself the crash comes after the Ready's messages left (the event that began it
      // runs first): a vote or acknowledgement the core wrongly sent before its write is out.
      return { completesAt, crashAt: now + armed.rng.int(0, stall - 1) };
    }
    this.inFlight.push(pending);
    const stall = this.crashInNextWrite ? rng.int(2, 20) : 0;
    const completesAt = Math.max(this.lastWriteAt, now + rng.int(this.writeMs[0], this.writeMs[1]) + stall);
    this.lastWriteAt = completesAt;
    let crashAt: number | null = null;
    if (this.crashInNextWrite) {
      this.crashInNextWrite = false;
      crashAt = now + rng.int(0, stall - 1);
    }
    return { completesAt, crashAt };
  }

  /** Whether `write` is one a {@link ReadyCrash} of this kind waits for. */
  private matches(kind: ReadyCrash['kind'], write: DurableWrite): boolean {
    if (kind === 'any') return true;
    if (kind === 'append') return write.entries.length > 0;
    const hs = write.hardState;
    if (hs === null || hs.vote === null) return false;
    // The newest hard state handed over before this one (in flight or on disk): a vote is new when it differs.
    let prev = this.hardState;
    for (const p of this.inFlight) if (p.write.hardState !== null) prev = p.write.hardState;
    return hs.term !== prev.term || hs.vote !== prev.vote;
  }

  /** A write completes: it lands. False when it was not the oldest in flight (writes must land in order). */
  complete(pending: PendingWrite): boolean {
    const inOrder = this.inFlight.shift() === pending;
    this.land(pending);
    return inOrder;
  }

  /** What `persist` was given reaches the disk. */
  land({ write, snapshotData }: PendingWrite): void {
    if (write.snapshot !== null) {
      const meta = write.snapshot;
      const at = this.entries.find((e) => e.index === meta.index);
      this.entries = at !== undefined && at.term === meta.term ? this.entries.filter((e) => e.index > meta.index) : [];
      this.snapshot = meta;
      this.snapshotData = snapshotData ?? new Uint8Array(0);
    }
    if (write.entries.length > 0) {
      const first = write.entries[0].index;
      this.entries = this.entries.filter((e) => e.index < first).concat(write.entries);
    }
    if (write.hardState !== null) this.hardState = { ...write.hardState };
  }

  /**
   * What a crash leaves of the writes in flight: the disk may have taken some of them whole before
   * the node learned they were durable, and the next one torn, in the order the WAL writes its records:
   * the snapshot install; a hard state with a new term or vote (and the commit already on disk) when the
   * write changes them and holds entries; the entries; the hard state. Returns the torn write, if any.
   */
  crash(rng: Rng): TornWrite | null {
    const writes = this.inFlight;
    this.inFlight = [];
    if (writes.length === 0) return null;
    const whole = rng.int(0, writes.length);
    for (let i = 0; i < whole; i++) this.land(writes[i]);
    if (whole === writes.length || !rng.chance(0.5)) return null;
    const { write, snapshotData } = writes[whole];
    const hs = write.hardState;
    const onDisk = this.hardState;
    const leading = hs !== null && write.entries.length > 0 && (hs.term !== onDisk.term || hs.vote !== onDisk.vote) ? { term: hs.term, vote: hs.vote, commit: onDisk.commit } : null;
    const parts = (write.snapshot === null ? 0 : 1) + (leading === null ? 0 : 1) + write.entries.length + (hs === null ? 0 : 1);
    let left = rng.int(0, parts - 1);
    const torn: DurableWrite = { snapshot: null, hardState: null, entries: [] };
    if (write.snapshot !== null) {
      // The snapshot comes first: tearing before it leaves nothing of this write.
      if (left === 0) return null;
      torn.snapshot = write.snapshot;
      left--;
    }
    if (leading !== null && left > 0) {
      torn.hardState = leading;
      left--;
    }
    torn.entries = write.entries.slice(0, left);
    // The write's own hard state is its last record: a torn write never holds it.
    this.land({ write: torn, snapshotData });
    return { landed: torn, whole: write };
  }

  /** The state machine's own snapshot is written at once (not through `persist`), and compacts the log. */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    this.snapshot = meta;
    this.snapshotData = data;
    this.entries = this.entries.filter((e) => e.index > meta.index);
  }

  /** Whether the entry `index`/`term` is durable here (in the log, or covered by the snapshot). */
  holds(index: number, term: number): boolean {
    if (this.snapshot.index >= index) return true;
    const first = this.entries.length > 0 ? this.entries[0].index : this.snapshot.index + 1;
    return this.entries[index - first]?.term === term;
  }
}
