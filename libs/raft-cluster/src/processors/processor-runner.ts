import type { EventJournal, JournalEvent } from './event-journal';
import { EventPosition, formatPosition } from './event-position';
import type { EventProcessorHandler, EventProcessorMetadata, ProcessedEventMeta } from './event-processor.decorator';

/** Retries of one delivery wait this long, doubling up to {@link MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
/** Failed attempts in a row after which the processor is reported as failing (it keeps retrying). */
export const FAILING_AFTER_ATTEMPTS = 3;

export type ProcessorState = 'idle' | 'handling' | 'retrying' | 'standby' | 'stopped';

export interface ProcessorStatus {
  name: string;
  mode: EventProcessorMetadata['mode'];
  /** `standby`: a `once` processor on a node that does not lead. */
  state: ProcessorState;
  /** The last event handled here (`<index>:<n>`), or null. */
  checkpoint: string | null;
  /** Events held in the journal that it has not handled yet. */
  lag: number;
  /** Failed attempts of the event it is on; reset by a success. */
  failedAttempts: number;
  failing: boolean;
  lastError: string | null;
  handled: number;
  resets: number;
}

/** What the runner tells the rest of the module: progress (to checkpoint) and trouble (to log and count). */
export interface RunnerReports {
  handled(processor: string, position: EventPosition): void;
  failed(processor: string, eventId: string, attempt: number, err: unknown, correlationId: string | null): void;
  recovered(processor: string, eventId: string): void;
  reset(processor: string, checkpoint: string | null, resumeAfter: string, hasHook: boolean): void;
}

/**
 * Delivers the journal's events to one processor, in log order, one at a time, from a position on: each
 * delivery is retried with back-off until it succeeds (never skipped, never reordered), and a position
 * whose next events the journal no longer holds resets the processor instead. `start` and `stop` follow
 * the node (a `once` processor runs only while its node leads): a stop lets a delivery in progress end,
 * but nothing after it counts.
 */
export class ProcessorRunner {
  private generation = 0;
  private position: EventPosition | null = null;
  private state: ProcessorState = 'stopped';
  private failedAttempts = 0;
  private lastError: string | null = null;
  private handled = 0;
  private resets = 0;
  /** Wakes the loop early: events appended, or a stop during a wait. */
  private wake: (() => void) | null = null;
  /** The delivery loop of the latest start (resolved when it has ended). */
  private running$: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;

  constructor(
    readonly meta: EventProcessorMetadata,
    private readonly handler: EventProcessorHandler,
    private readonly journal: EventJournal,
    private readonly decode: (e: JournalEvent) => object,
    private readonly reports: RunnerReports,
  ) {
    // A back-off is not cut short by new events: only an idle runner wakes for them.
    this.unsubscribe = journal.onAppend(() => {
      if (this.state === 'idle') this.wakeUp();
    });
  }

  get name(): string {
    return this.meta.name;
  }

  get running(): boolean {
    return this.state !== 'stopped' && this.state !== 'standby';
  }

  get checkpoint(): EventPosition | null {
    return this.position;
  }

  /** Delivers the events after `from` (all the journal holds when null) until {@link stop}. */
  start(from: EventPosition | null): void {
    const generation = ++this.generation;
    this.wakeUp();
    this.position = from;
    this.state = 'idle';
    this.failedAttempts = 0;
    // One delivery at a time even across a quick stop and start: the new run waits for a handler the
    // previous run still has in progress.
    const previous = this.running$;
    this.running$ = previous.then(() => this.loop(generation));
  }

  /** `standby`: a `once` processor while another node leads. */
  stop(state: 'stopped' | 'standby' = 'stopped'): void {
    this.generation++;
    this.state = state;
    this.wakeUp();
  }

  close(): void {
    this.stop();
    this.unsubscribe();
  }

  status(): ProcessorStatus {
    return {
      name: this.meta.name,
      mode: this.meta.mode,
      state: this.state,
      checkpoint: this.position === null ? null : formatPosition(this.position),
      lag: this.journal.countAfter(this.position),
      failedAttempts: this.failedAttempts,
      failing: this.failedAttempts >= FAILING_AFTER_ATTEMPTS,
      lastError: this.lastError,
      handled: this.handled,
      resets: this.resets,
    };
  }

  private async loop(generation: number): Promise<void> {
    while (this.generation === generation) {
      const missed = this.journal.missedAfter(this.position);
      const next = missed === null ? this.journal.after(this.position) : undefined;
      if (missed === null && next === undefined) {
        this.state = 'idle';
        await this.sleep(null);
        continue;
      }
      const done = missed !== null ? await this.attempt(generation, formatPosition(missed), null, () => this.resetAfter(missed)) : await this.deliver(generation, next!);
      if (!done) return;
      this.position = missed ?? next!;
      this.reports.handled(this.meta.name, this.position);
    }
  }

  private deliver(generation: number, e: JournalEvent): Promise<boolean> {
    const eventId = formatPosition(e);
    return this.attempt(generation, eventId, e.correlationId, async (attempt) => {
      const meta: ProcessedEventMeta = {
        eventId,
        index: e.index,
        name: e.name,
        timestamp: e.timestamp,
        correlationId: e.correlationId,
        causationId: e.causationId,
        attempt,
      };
      await this.handler.handle(this.decode(e), meta);
      this.handled++;
    });
  }

  private async resetAfter(missed: EventPosition): Promise<void> {
    const checkpoint = this.position === null ? null : formatPosition(this.position);
    const resumeAfter = formatPosition(missed);
    const hook = typeof this.handler.reset === 'function';
    this.reports.reset(this.meta.name, checkpoint, resumeAfter, hook);
    if (hook) await this.handler.reset!({ processor: this.meta.name, checkpoint, resumeAfter });
    this.resets++;
  }

  /** Runs `work` until it succeeds (true) or the runner is stopped (false), waiting longer after each failure. */
  private async attempt(generation: number, eventId: string, correlationId: string | null, work: (attempt: number) => Promise<void>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (this.generation !== generation) return false;
      this.state = attempt === 0 ? 'handling' : 'retrying';
      try {
        await work(attempt);
      } catch (err) {
        if (this.generation !== generation) return false;
        this.failedAttempts = attempt + 1;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.reports.failed(this.meta.name, eventId, attempt + 1, err, correlationId);
        await this.sleep(Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(attempt, 16)));
        continue;
      }
      if (this.generation !== generation) return false;
      if (this.failedAttempts > 0) {
        this.failedAttempts = 0;
        this.reports.recovered(this.meta.name, eventId);
      }
      return true;
    }
  }

  /** Waits `ms` (until woken when null); a stop ends it early, and so do new events while idle. */
  private sleep(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(() => this.wakeUp(), ms);
      this.wake = () => {
        if (timer !== null) clearTimeout(timer);
        resolve();
      };
    });
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
