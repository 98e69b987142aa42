import { mkdir, open, readFile, rename } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Where `every-node` event processors keep their checkpoints (the id `<index>:<n>` of the last event
 * handled). Provide your own under `RAFT_CHECKPOINT_STORE` to keep a checkpoint in the same database,
 * and the same transaction, as what the processor writes: then a crash can never leave the two apart.
 */
export interface CheckpointStore {
  /** The processor's checkpoint, or null when it has none (it then starts from the oldest event held). */
  load(processor: string): Promise<string | null>;
  /** Called after events were handled; a later call always carries a later checkpoint. */
  save(processor: string, checkpoint: string): Promise<void>;
}

/** For `dataDir: ':memory:'` (tests): checkpoints last as long as the process. */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly saved = new Map<string, string>();

  load(processor: string): Promise<string | null> {
    return Promise.resolve(this.saved.get(processor) ?? null);
  }

  save(processor: string, checkpoint: string): Promise<void> {
    this.saved.set(processor, checkpoint);
    return Promise.resolve();
  }
}

/**
 * The default: one small file per processor under `<dataDir>/processors`, replaced atomically (written
 * to a temporary file, synced, renamed), so a crash leaves the old checkpoint or the new, never a torn one.
 */
export class FileCheckpointStore implements CheckpointStore {
  private readonly dir: string;
  private made: Promise<unknown> | null = null;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'processors');
  }

  async load(processor: string): Promise<string | null> {
    try {
      const text = (await readFile(this.file(processor), 'utf8')).trim();
      return text === '' ? null : text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async save(processor: string, checkpoint: string): Promise<void> {
    this.made ??= mkdir(this.dir, { recursive: true });
    await this.made;
    const target = this.file(processor);
    const temp = `${target}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(`${checkpoint}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  }

  private file(processor: string): string {
    return path.join(this.dir, `${processor}.checkpoint`);
  }
}
