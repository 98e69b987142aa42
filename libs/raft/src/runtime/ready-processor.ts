import { Entry, HardState, Message, mustSync, RaftCore, ReadState, Ready, SnapshotChunkWrite, SnapshotMeta, SoftState } from '../core';

/**
 * What a port returns: nothing when its work is done on return, a promise when it finishes later.
 * The simulator and the test harness return nothing, so a Ready is processed synchronously there; the
 * runtime's storage and state machine return promises.
 */
export type Done = void | Promise<void>;

/** What must be on disk before the Ready's `messagesAfterPersist` leave. */
export interface DurableWrite {
  /** Install this snapshot (its chunks were written before); entries it covers are dropped. */
  snapshot: SnapshotMeta | null;
  /** Truncate the stored log at `entries[0].index`, then append these. */
  entries: Entry[];
  /** Null when the hard state on disk is already the newest one. */
  hardState: HardState | null;
}

/** How a driver's storage, network and state machine take part in processing a Ready. */
export interface ReadyPorts<Result> {
  softState(state: SoftState): void;
  send(messages: Message[]): void;
  writeSnapshotChunks(chunks: SnapshotChunkWrite[]): Done;
  /** Resolves (or returns) once `write` is durable. */
  persist(write: DurableWrite): Done;
  /** Load the snapshot just persisted into the state machine. */
  restoreSnapshot(meta: SnapshotMeta): Done;
  /** Apply a committed entry to the state machine; the result is handed to `onApplied`. */
  apply(entry: Entry): Result | Promise<Result>;
  /** The applied index already counts `entry`: settle the proposal made here at its index, if any. */
  onApplied(entry: Entry, result: Result): void;
  /** The leader could not confirm this read (it lost leadership): the caller should retry. */
  readFailed(requestId: number): void;
  /** The state machine has applied `index`, the read's commit point: the read may be served now. */
  serveRead(requestId: number, index: number): void;
}

/**
 * The one implementation of "process a Ready" that the runtime, the simulator and the test harness
 * all drive, so that the order the simulator proves is the order that runs:
 *
 * 1. `begin`: soft state; `messages` (a leader's appends may leave before its own write, Raft thesis
 *    10.2.1); snapshot chunks; then, when {@link mustSync} says so, the snapshot, entries and hard
 *    state, durably. A hard state that only moves the commit index is kept and written with the next
 *    sync (decision 0006).
 * 2. `finish`, once that write is durable: `messagesAfterPersist` (votes and acknowledgements promise
 *    durability); the snapshot restored before any entry after it is applied; `committed` in order;
 *    reads served once their index is applied; then `advance`, which is what lets a leader count its
 *    own entries towards a commit.
 *
 * `process` runs both. The simulator calls the halves itself because its disk writes complete at a
 * later virtual time, and a crash in between must lose them.
 */
export class ReadyProcessor<Result> {
  /** The newest hard state the core gave; ahead of the one on disk by a commit index at most. */
  private latestHard: HardState;
  private persistedHard: HardState;
  /** Not `core.log.applied`: that is what the core handed out, which runs ahead while a Ready is processed. */
  private appliedIndex: number;
  private readsAwaitingApply: ReadState[] = [];

  constructor(
    private readonly core: RaftCore,
    private readonly ports: ReadyPorts<Result>,
    persisted: { hardState: HardState; applied: number },
  ) {
    this.persistedHard = persisted.hardState;
    this.latestHard = persisted.hardState;
    this.appliedIndex = persisted.applied;
  }

  /** What the state machine has applied. */
  get applied(): number {
    return this.appliedIndex;
  }

  /** A hard state that moved only the commit index and is not on disk yet; a clean stop writes it. */
  unsyncedHardState(): HardState | null {
    return this.latestHard === this.persistedHard ? null : this.latestHard;
  }

  process(rd: Ready): Done {
    return then(this.begin(rd), () => this.finish(rd));
  }

  begin(rd: Ready): Done {
    if (rd.softState !== null) this.ports.softState(rd.softState);
    this.ports.send(rd.messages);
    if (rd.hardState !== null) this.latestHard = rd.hardState;
    const sync = mustSync(rd, this.persistedHard);
    if (rd.snapshotChunks.length === 0) return sync ? this.persist(rd) : undefined;
    return then(this.ports.writeSnapshotChunks(rd.snapshotChunks), () => (sync ? this.persist(rd) : undefined));
  }

  finish(rd: Ready): Done {
    this.ports.send(rd.messagesAfterPersist);
    const snapshot = rd.snapshot;
    if (snapshot === null) return this.applyFrom(rd, 0);
    return then(this.ports.restoreSnapshot(snapshot), () => {
      this.appliedIndex = snapshot.index;
      return this.applyFrom(rd, 0);
    });
  }

  private persist(rd: Ready): Done {
    const hardState = this.latestHard;
    const write: DurableWrite = { snapshot: rd.snapshot, entries: rd.entries, hardState: this.unsyncedHardState() };
    return then(this.ports.persist(write), () => {
      this.persistedHard = hardState;
    });
  }

  /** Applies `rd.committed` from `from` on, in order, then serves reads and advances the core. */
  private applyFrom(rd: Ready, from: number): Done {
    for (let i = from; i < rd.committed.length; i++) {
      const e = rd.committed[i];
      const result = this.ports.apply(e);
      if (result instanceof Promise) {
        return result.then((r) => {
          this.markApplied(e, r);
          return this.applyFrom(rd, i + 1);
        });
      }
      this.markApplied(e, result);
    }
    this.takeReadStates(rd.readStates);
    this.core.advance(rd);
  }

  private markApplied(e: Entry, result: Result): void {
    this.appliedIndex = e.index;
    this.ports.onApplied(e, result);
  }

  private takeReadStates(readStates: ReadState[]): void {
    for (const rs of readStates) {
      if (rs.index < 0) this.ports.readFailed(rs.requestId);
      else this.readsAwaitingApply.push(rs);
    }
    if (this.readsAwaitingApply.length === 0) return;
    const still: ReadState[] = [];
    for (const rs of this.readsAwaitingApply) {
      if (rs.index <= this.appliedIndex) this.ports.serveRead(rs.requestId, rs.index);
      else still.push(rs);
    }
    this.readsAwaitingApply = still;
  }
}

/** Continues at once after a port that finished on return, and only once its promise resolves otherwise. */
function then<T>(result: T | Promise<T>, next: (value: T) => Done): Done {
  return result instanceof Promise ? result.then(next) : next(result);
}
