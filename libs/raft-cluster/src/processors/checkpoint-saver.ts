import type { CheckpointStore } from './checkpoint-store';
import { EventPosition, formatPosition } from './event-position';

/** After a failed save, the next try waits this long (a full disk, a database down). */
const RETRY_MS = 1_000;

/**
 * Saves an `every-node` processor's checkpoint without holding its deliveries back: one save at a time,
 * and the positions reached meanwhile collapse into the next save of the latest. A crash can lose the
 * last few, which are then delivered again (at least once); a clean shutdown {@link flush}es.
 */
export class CheckpointSaver {
  private latest: EventPosition | null = null;
  private written: EventPosition | null = null;
  private saving: Promise<void> | null = null;

  constructor(
    private readonly store: CheckpointStore,
    private readonly processor: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  save(position: EventPosition): void {
    this.latest = position;
    this.saving ??= this.run();
  }

  /** Resolves once the latest position is saved (or a save failed). */
  flush(): Promise<void> {
    return this.saving ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    try {
      while (this.latest !== this.written) {
        const position = this.latest!;
        try {
          await this.store.save(this.processor, formatPosition(position));
          this.written = position;
        } catch (err) {
          this.onError(err);
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        }
      }
    } finally {
      this.saving = null;
    }
  }
}
