import { asError } from './as-error';
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
  /** Writes these chunks of an incoming snapshot; calls `written` once they are. */
  writeSnapshotChunks(chunks: SnapshotChunkWrite[], written: () => void): void;
  /**
   * Hands `write` to storage, which must make writes durable in the order it was handed them; calls
   * `durable` once this one is. Several may be in flight.
   */
  persist(write: DurableWrite, durable: () => void): void;
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
  /** A Ready is done: work that must not overlap an apply (taking a snapshot) runs here. */
  finished(): Done;
  /** A port's promise was rejected: the node cannot go on. */
  fail(err: Error): void;
}

interface InFlight {
  rd: Ready;
  durable: boolean;
}

/**
 * The one implementation of "process a Ready" that the runtime, the simulator and the test harness
 * all drive, so that the order the simulator proves is the order that runs. Readies are pipelined:
 * the next one may begin while earlier writes are in flight (etcd's asynchronous storage writes).
 *
 * 1. `begin`: soft state; `messages` (a leader's appends may leave before its own write, Raft thesis
 *    10.2.1); snapshot chunks; then, when {@link mustSync} says so, the snapshot, entries and hard
 *    state are handed to storage, after the writes of every earlier Ready. A hard state that only
 *    moves the commit index is kept and written with the next sync (decision 0006).
 * 2. Finish, once this Ready's write is durable and every earlier Ready has finished: `advance` (what
 *    lets a leader count its own entries towards a commit); `messagesAfterPersist` (votes and
 *    acknowledgements promise durability); the snapshot restored before any entry after it is
 *    applied; `committed` in order; reads served once their index is applied; then `finished`.
 *
 * Entries handed out for apply may sit in the write of this Ready or an earlier one: finishing in
 * order means they are durable by then.
 */
export class ReadyProcessor<Result> {
  /** The newest hard state the core gave; ahead of the one handed to storage by a commit index at most. */
  private latestHard: HardState;
  /** The newest hard state handed to storage, durable or not: what the next write compares with. */
  private writtenHard: HardState;
  private persistedHard: HardState;
  /** Not `core.log.applying`: that is what the core handed out, which runs ahead while a Ready is processed. */
  private appliedIndex: number;
  private readsAwaitingApply: ReadState[] = [];
  private readonly inFlight: InFlight[] = [];
  private finishing = false;
  /** Storage steps waiting for an earlier one (snapshot chunks, a snapshot install) to complete. */
  private readonly storageSteps: ((next: () => void) => void)[] = [];
  private storageBusy = false;

  constructor(
    private readonly core: RaftCore,
    private readonly ports: ReadyPorts<Result>,
    persisted: { hardState: HardState; applied: number },
    /** Readies begun and not yet finished at once; 1 means each waits for the previous one's sync. */
    private readonly maxInFlight = 1,
  ) {
    this.persistedHard = persisted.hardState;
    this.writtenHard = persisted.hardState;
    this.latestHard = persisted.hardState;
    this.appliedIndex = persisted.applied;
  }

  /** What the state machine has applied. */
  get applied(): number {
    return this.appliedIndex;
  }

  /** Whether the Ready at the head is being finished (its applies running): a driver may wait for the end. */
  get isFinishing(): boolean {
    return this.finishing;
  }

  /** Whether a Ready is begun and not yet finished. */
  get busy(): boolean {
    return this.inFlight.length > 0 || this.finishing;
  }

  /** Whether the driver may begin another Ready now. */
  canBegin(): boolean {
    return this.inFlight.length < this.maxInFlight;
  }

  /** A hard state that moved only the commit index and is not on disk yet; a clean stop writes it. */
  unsyncedHardState(): HardState | null {
    return this.latestHard === this.persistedHard ? null : this.latestHard;
  }

  begin(rd: Ready): void {
    if (!this.canBegin()) throw new Error(`ReadyProcessor: ${this.inFlight.length} Readies already in flight`);
    if (rd.softState !== null) this.ports.softState(rd.softState);
    this.ports.send(rd.messages);
    if (rd.hardState !== null) this.latestHard = rd.hardState;
    const item: InFlight = { rd, durable: false };
    this.inFlight.push(item);
    const markDurable = (): void => {
      item.durable = true;
      this.drain();
    };
    if (rd.snapshotChunks.length > 0) {
      this.storageStep((next) => this.ports.writeSnapshotChunks(rd.snapshotChunks, next));
    }
    if (!mustSync(rd, this.writtenHard)) {
      this.storageStep((next) => {
        next();
        markDurable();
      });
      return;
    }
    const hardState = this.latestHard;
    const write: DurableWrite = { snapshot: rd.snapshot, entries: rd.entries, hardState: hardState === this.writtenHard ? null : hardState };
    this.writtenHard = hardState;
    this.storageStep((next) => {
      // Later writes wait for a snapshot's install: storage must not log entries after it before it.
      const barrier = write.snapshot !== null;
      this.ports.persist(write, () => {
        this.persistedHard = hardState;
        if (barrier) next();
        markDurable();
      });
      if (!barrier) next();
    });
  }

  /** Runs storage steps one after another, in the order Readies began. */
  private storageStep(step: (next: () => void) => void): void {
    this.storageSteps.push(step);
    if (!this.storageBusy) this.runStorageSteps();
  }

  private runStorageSteps(): void {
    while (this.storageSteps.length > 0) {
      const step = this.storageSteps.shift()!;
      let returned = false;
      let completed = false;
      this.storageBusy = true;
      step(() => {
        completed = true;
        if (returned) {
          this.storageBusy = false;
          this.runStorageSteps();
        }
      });
      returned = true;
      if (!completed) return;
      this.storageBusy = false;
    }
  }

  /** Finishes the Readies at the head of the queue whose writes are durable, one at a time, in order. */
  private drain(): void {
    while (!this.finishing && this.inFlight.length > 0 && this.inFlight[0].durable) {
      const { rd } = this.inFlight.shift()!;
      this.finishing = true;
      let done: Done;
      try {
        done = then(this.finish(rd), () => this.ports.finished());
      } catch (err) {
        // It stays finishing: nothing after a Ready that failed half-way may run.
        this.ports.fail(asError(err));
        return;
      }
      if (done instanceof Promise) {
        done.then(
          () => {
            this.finishing = false;
            this.drain();
          },
          (err: unknown) => this.ports.fail(asError(err)),
        );
        return;
      }
      this.finishing = false;
    }
  }

  private finish(rd: Ready): Done {
    this.core.advance(rd);
    this.ports.send(rd.messagesAfterPersist);
    const snapshot = rd.snapshot;
    if (snapshot === null) return this.applyFrom(rd, 0);
    return then(this.ports.restoreSnapshot(snapshot), () => {
      this.appliedIndex = snapshot.index;
      return this.applyFrom(rd, 0);
    });
  }

  /** Applies `rd.committed` from `from` on, in order, then serves reads. */
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
