import { REPLICATED_EVENT } from '../raft-cluster.constants';
import { comparePositions, EventPosition, formatPosition, parsePosition } from './event-position';

/** The name an event class is journaled under: its `@ReplicatedEvent` name, else its class name. */
export function journalName(eventClass: abstract new (...args: never[]) => unknown): string {
  return (Reflect.getMetadata(REPLICATED_EVENT, eventClass) as string | undefined) ?? eventClass.name;
}

/** An event raised while an entry was applied, as the journal keeps it (its fields as the log carries them). */
export interface JournalEvent {
  readonly index: number;
  readonly n: number;
  /** The event's name: its `@ReplicatedEvent` name, else its class name. */
  readonly name: string;
  /** Its fields as JSON (through the codec when there is one). */
  readonly payload: unknown;
  /** The leader's clock when it proposed the entry. */
  readonly timestamp: number;
  readonly correlationId: string | null;
  readonly causationId: string | null;
}

/** How the journal is written into the state machine's snapshot: compact tuples, positions as ids. */
export interface JournalSnapshot {
  events: [number, number, string, unknown, number, string | null, string | null][];
  dropped: string | null;
  checkpoints: [string, string][];
}

export interface EventJournalOptions {
  /** Names of the events some processor handles: the others are not kept. */
  names: ReadonlySet<string>;
  /** Events of entries more than this many indexes behind the newest are dropped; also the most events kept. */
  maxEventLag: number;
  /** The most bytes of event fields (as JSON) kept: an app whose events are large is bounded too. */
  maxBytes: number;
  /**
   * The `once` processors, when every processor of the app is one: an event all of them have
   * checkpointed past is dropped at once. Null: events stay for the whole window (an `every-node`
   * processor's checkpoint is local to each node, so it cannot decide what the replicated journal keeps).
   */
  consumers: readonly string[] | null;
}

/**
 * The replicated journal of the events that apply raised, which event processors read from. It is part
 * of the state machine (written to its snapshots, restored with them, changed only by applies), so a node
 * restarted from a snapshot, or a follower that became leader, still has the events its processors have
 * not handled yet, and every node holds the same ones at the same index. It also holds the checkpoints of
 * the `once` processors, which reach it through the log.
 *
 * Bounded: events older than `maxEventLag` entries, and the oldest beyond `maxBytes`, are dropped, and
 * the position of the newest dropped event is remembered, so that a processor whose checkpoint lies before it learns that it missed events
 * (and is reset) instead of silently skipping them.
 */
export class EventJournal {
  private events: JournalEvent[] = [];
  /** Index in `events` of the first event still held (dropping from the front moves this, not the array). */
  private head = 0;
  private dropped: EventPosition | null = null;
  /** Bytes of the fields (as JSON) of the events held, and of each event, oldest first with `events`. */
  private bytes = 0;
  private sizes: number[] = [];
  private readonly checkpoints = new Map<string, EventPosition>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly opts: EventJournalOptions) {}

  wants(name: string): boolean {
    return this.opts.names.has(name);
  }

  get size(): number {
    return this.events.length - this.head;
  }

  /** Keeps the events entry `index` raised (already filtered by {@link wants}) and drops what fell out of the window. */
  append(index: number, raised: readonly JournalEvent[]): void {
    for (const e of raised) this.hold(e);
    this.trim(index);
    if (raised.length > 0) for (const listener of this.listeners) listener();
  }

  /** A `once` processor's checkpoint, applied from the log; it never moves back (an old leader's may arrive late). */
  advanceCheckpoint(processor: string, position: EventPosition, index: number): void {
    const current = this.checkpoints.get(processor) ?? null;
    if (comparePositions(position, current) > 0) this.checkpoints.set(processor, position);
    this.trim(index);
  }

  checkpoint(processor: string): EventPosition | null {
    return this.checkpoints.get(processor) ?? null;
  }

  /** The first event after `position` (from the start when null), or undefined when there is none yet. */
  after(position: EventPosition | null): JournalEvent | undefined {
    const i = this.firstAfter(position);
    return i < this.events.length ? this.events[i] : undefined;
  }

  /** How many events after `position` the journal holds. */
  countAfter(position: EventPosition | null): number {
    return this.events.length - this.firstAfter(position);
  }

  /** The newest dropped event when events after `position` were dropped (the processor missed them), else null. */
  missedAfter(position: EventPosition | null): EventPosition | null {
    return comparePositions(this.dropped, position) > 0 ? this.dropped : null;
  }

  /** Calls `listener` after each apply that added events; returns the unsubscribe. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): JournalSnapshot {
    const events: JournalSnapshot['events'] = [];
    for (let i = this.head; i < this.events.length; i++) {
      const e = this.events[i];
      events.push([e.index, e.n, e.name, e.payload, e.timestamp, e.correlationId, e.causationId]);
    }
    return {
      events,
      dropped: this.dropped === null ? null : formatPosition(this.dropped),
      checkpoints: [...this.checkpoints].map(([name, p]) => [name, formatPosition(p)]),
    };
  }

  /** Replaces the journal with a snapshot's (undefined: empty, as a snapshot taken before processors existed). */
  restore(snap: JournalSnapshot | undefined): void {
    this.events = [];
    this.sizes = [];
    this.bytes = 0;
    this.head = 0;
    this.dropped = null;
    this.checkpoints.clear();
    if (snap === undefined) return;
    for (const [index, n, name, payload, timestamp, correlationId, causationId] of snap.events) {
      this.hold({ index, n, name, payload, timestamp, correlationId, causationId });
    }
    this.dropped = parsePosition(snap.dropped);
    for (const [name, text] of snap.checkpoints) {
      const p = parsePosition(text);
      if (p !== null) this.checkpoints.set(name, p);
    }
    if (this.size > 0) for (const listener of this.listeners) listener();
  }

  /** The same size on every node: JSON of parsed JSON is the text it was parsed from. */
  private hold(e: JournalEvent): void {
    const size = JSON.stringify(e.payload)?.length ?? 0;
    this.events.push(e);
    this.sizes.push(size);
    this.bytes += size;
  }

  private firstAfter(position: EventPosition | null): number {
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (comparePositions(this.events[mid], position) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops what is out of the window at `index` and what every `once` consumer has handled. */
  private trim(index: number): void {
    const floor = index - this.opts.maxEventLag;
    let consumed: EventPosition | null = null;
    if (this.opts.consumers !== null && this.opts.consumers.length > 0) {
      consumed = { index: Number.MAX_SAFE_INTEGER, n: 0 };
      for (const name of this.opts.consumers) {
        const c = this.checkpoints.get(name) ?? null;
        if (comparePositions(c, consumed) < 0) consumed = c;
      }
    }
    while (this.head < this.events.length) {
      const e = this.events[this.head];
      const old = e.index <= floor || this.size > this.opts.maxEventLag || this.bytes > this.opts.maxBytes;
      if (!old && comparePositions(e, consumed) > 0) break;
      if (comparePositions(e, this.dropped) > 0) this.dropped = { index: e.index, n: e.n };
      this.bytes -= this.sizes[this.head];
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }
}
