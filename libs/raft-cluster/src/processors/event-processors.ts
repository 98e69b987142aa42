import type { RaftClusterLogger } from '../raft-cluster.logger';
import type { RaftClusterMetrics } from '../raft-cluster.metrics';
import { CheckpointSaver } from './checkpoint-saver';
import type { CheckpointStore } from './checkpoint-store';
import type { EventJournal, JournalEvent } from './event-journal';
import { comparePositions, EventPosition, formatPosition, parsePosition } from './event-position';
import type { EventProcessorHandler, EventProcessorMetadata } from './event-processor.decorator';
import { ProcessorRunner, ProcessorStatus, RunnerReports } from './processor-runner';

/** How often a leader writes its `once` processors' progress to the log (one entry for all of them). */
const CHECKPOINT_INTERVAL_MS = 100;
/** How long shutdown waits for the last checkpoints to be written. */
const FLUSH_TIMEOUT_MS = 2_000;

/** What the processors need of the cluster. */
export interface ProcessorClusterPort {
  isLeader(): boolean;
  /** Resolves once this leader has applied everything committed before it led (its predecessors' checkpoints). */
  readBarrier(): Promise<unknown>;
  /** Proposes the `once` processors' checkpoints as one log entry. */
  proposeCheckpoints(checkpoints: Record<string, string>): Promise<unknown>;
}

export interface DiscoveredProcessor {
  meta: EventProcessorMetadata;
  instance: EventProcessorHandler;
}

/**
 * The app's event processors on this node: `every-node` ones run from start-up, resuming after the
 * checkpoint in the {@link CheckpointStore}; `once` ones run while this node leads, resuming after the
 * checkpoint the log holds (so a new leader repeats at most what its predecessor handled but had not yet
 * checkpointed: duplicates only across a leader change, each with the same event id).
 */
export class EventProcessors {
  private readonly runners: ProcessorRunner[] = [];
  private readonly savers = new Map<string, CheckpointSaver>();
  /** The `once` checkpoints this leader proposed last, not to propose them again. */
  private readonly proposed = new Map<string, EventPosition>();
  private leading = 0;
  private isLeading = false;
  private timer: NodeJS.Timeout | null = null;
  private proposing: Promise<unknown> | null = null;
  private closed = false;

  constructor(
    processors: readonly DiscoveredProcessor[],
    private readonly journal: EventJournal,
    private readonly store: CheckpointStore,
    private readonly cluster: ProcessorClusterPort,
    decode: (e: JournalEvent) => object,
    private readonly logger: RaftClusterLogger,
    private readonly metrics: RaftClusterMetrics,
  ) {
    const reports = this.reports();
    for (const p of processors) {
      this.runners.push(new ProcessorRunner(p.meta, p.instance, journal, decode, reports));
      if (p.meta.mode === 'every-node') {
        this.savers.set(p.meta.name, new CheckpointSaver(store, p.meta.name, (err) => this.logger.error(`event processor ${p.meta.name}: saving its checkpoint failed: ${(err as Error).message}`)));
      }
    }
    metrics.bindProcessors(() =>
      this.status().map((s) => ({ name: s.name, checkpointIndex: parsePosition(s.checkpoint)?.index ?? 0, lag: s.lag, failing: s.failing })),
    );
  }

  /** Starts the `every-node` processors after their stored checkpoints, and the `once` ones if this node leads. */
  async start(): Promise<void> {
    for (const runner of this.runners) {
      if (runner.meta.mode === 'once') {
        runner.stop('standby');
        continue;
      }
      const stored = await this.store.load(runner.name);
      const from = parsePosition(stored);
      if (stored !== null && from === null) throw new Error(`event processor ${runner.name}: the stored checkpoint ${JSON.stringify(stored)} is not an event id <index>:<n>`);
      if (this.closed) return;
      runner.start(from);
    }
    if (this.cluster.isLeader()) this.leadershipChanged(true);
  }

  leadershipChanged(leader: boolean): void {
    if (leader === this.isLeading || this.closed) return;
    this.isLeading = leader;
    const generation = ++this.leading;
    this.proposed.clear();
    if (!leader) {
      this.stopTimer();
      for (const r of this.onceRunners()) r.stop('standby');
      return;
    }
    if (this.onceRunners().length === 0) return;
    void this.lead(generation);
  }

  /** A `once` processor on standby shows the checkpoint the log holds (where the leader's is), not its own last run. */
  status(): ProcessorStatus[] {
    return this.runners.map((r) => {
      const s = r.status();
      if (r.meta.mode !== 'once' || r.running) return s;
      const replicated = this.journal.checkpoint(r.name);
      return { ...s, checkpoint: replicated === null ? null : formatPosition(replicated), lag: this.journal.countAfter(replicated) };
    });
  }

  /** Stops every processor and writes the last checkpoints (bounded: a shutdown does not hang on them). */
  async stop(): Promise<void> {
    if (this.closed) return;
    const wasLeading = this.isLeading;
    this.closed = true;
    this.stopTimer();
    for (const r of this.runners) r.close();
    const flushes: Promise<unknown>[] = [...this.savers.values()].map((s) => s.flush());
    if (wasLeading) flushes.push(this.proposeProgress() ?? Promise.resolve());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(flushes), new Promise((resolve) => (timer = setTimeout(resolve, FLUSH_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  private onceRunners(): ProcessorRunner[] {
    return this.runners.filter((r) => r.meta.mode === 'once');
  }

  /** Waits until the checkpoints of earlier leaders are applied here, then runs the `once` processors after them. */
  private async lead(generation: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cluster.readBarrier();
        break;
      } catch {
        if (this.leading !== generation) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)).unref());
      }
      if (this.leading !== generation) return;
    }
    if (this.leading !== generation || this.closed) return;
    for (const r of this.onceRunners()) {
      const from = this.journal.checkpoint(r.name);
      this.logger.info(`event processor ${r.name} runs on this leader, after ${from === null ? 'the oldest event held' : formatPosition(from)}`);
      r.start(from);
    }
    this.timer = setInterval(() => void this.proposeProgress(), CHECKPOINT_INTERVAL_MS);
    this.timer.unref();
  }

  /** One log entry with every `once` processor that moved since its last checkpoint; none while one is on its way. */
  private proposeProgress(): Promise<unknown> | null {
    if (this.proposing !== null) return this.proposing;
    const moved: Record<string, string> = {};
    const positions = new Map<string, EventPosition>();
    for (const r of this.onceRunners()) {
      const at = r.checkpoint;
      if (at === null) continue;
      const known = this.proposed.get(r.name) ?? this.journal.checkpoint(r.name);
      if (comparePositions(at, known) <= 0) continue;
      moved[r.name] = formatPosition(at);
      positions.set(r.name, at);
    }
    if (positions.size === 0) return null;
    const generation = this.leading;
    this.proposing = this.cluster
      .proposeCheckpoints(moved)
      .then(
        () => {
          if (this.leading === generation) for (const [name, p] of positions) this.proposed.set(name, p);
        },
        (err: unknown) => this.logger.debug(`event processor checkpoints not written (${(err as Error).message}); the next try follows`),
      )
      .finally(() => (this.proposing = null));
    return this.proposing;
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private reports(): RunnerReports {
    return {
      handled: (processor, position) => this.savers.get(processor)?.save(position),
      failed: (processor, eventId, attempt, err, correlationId) => {
        this.metrics.processorFailures.inc({ processor });
        const message = `event processor ${processor}: event ${eventId}${correlationId === null ? '' : ` (correlation ${correlationId})`} failed (attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}`;
        // Every failure at first, then every tenth: a processor failing for hours should not flood the log.
        if (attempt <= 3 || attempt % 10 === 0) this.logger.error(`${message}; retrying with back-off, later events wait`);
      },
      recovered: (processor, eventId) => this.logger.info(`event processor ${processor}: event ${eventId} handled after failures; going on`),
      reset: (processor, checkpoint, resumeAfter, hasHook) => {
        this.metrics.processorResets.inc({ processor });
        const why = `the events after its checkpoint ${checkpoint ?? '(none)'} up to ${resumeAfter} are no longer held (maxEventLag)`;
        if (hasHook) this.logger.warn(`event processor ${processor} is reset: ${why}`);
        else this.logger.error(`event processor ${processor} missed events: ${why}, and it has no reset() hook to rebuild from the current state`);
      },
    };
  }
}
