/**
 * The runtime writes its own snapshot in the background: the log, applies and replies go on while the
 * file is written and synced; the log is compacted once it is committed; a stop waits for it.
 */
import { SnapshotMeta } from '../../src/core';
import { MemoryStorage } from '../../src/storage/memory-storage';
import type { SnapshotWriter } from '../../src/storage/types';
import { loneNode, waitFor } from './lone-node';

/** Holds every snapshot commit until `release()`. */
class SlowSnapshotStorage extends MemoryStorage {
  readonly begun: SnapshotMeta[] = [];
  private gate: Promise<void> = new Promise(() => undefined);
  private opener: () => void = () => undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.opener = resolve));
  }

  release(): void {
    this.opener();
  }

  override beginSnapshot(meta: SnapshotMeta): SnapshotWriter {
    this.begun.push(meta);
    const writer = super.beginSnapshot(meta);
    const gate = this.gate;
    return { meta, write: (o, d) => writer.write(o, d), commit: () => gate.then(() => writer.commit()), abort: () => writer.abort() };
  }
}

const encoder = new TextEncoder();

describe("RaftNode's own snapshots", () => {
  it('are written while commands go on committing; the log is compacted after the commit, and stop waits for it', async () => {
    const storage = new SlowSnapshotStorage();
    storage.hold();
    const applied: number[] = [];
    const node = loneNode(storage, {
      compactionThreshold: 5,
      stateMachine: {
        apply: (_e, ctx) => {
          applied.push(ctx.index);
          return ctx.index;
        },
        snapshot: () => encoder.encode(JSON.stringify(applied.length)),
        restore: () => undefined,
      },
    });
    await node.start();
    await waitFor('leadership', () => node.isLeader);
    for (let i = 0; i < 6; i++) await node.propose(encoder.encode(`cmd ${i}`));
    await waitFor('a snapshot to begin', () => storage.begun.length === 1);
    const first = storage.begun[0];

    // Its commit is held: commands still commit and apply, and the log is not compacted yet.
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await node.propose(encoder.encode(`more ${i}`)));
    expect(results).toHaveLength(10);
    expect(node.applied).toBeGreaterThanOrEqual(first.index + 10);
    expect(node.status().snapshotIndex).toBe(0);
    // One snapshot at a time: no second one is begun while the first is being written.
    expect(storage.begun).toHaveLength(1);

    storage.release();
    await waitFor('the log compacted to the written snapshot', () => node.status().snapshotIndex === first.index);
    expect(storage.snapshotMeta().index).toBe(first.index);

    // A stop waits for a snapshot still being written, and the snapshot is then on disk.
    storage.hold();
    await node.propose(encoder.encode('next'));
    await waitFor('a second snapshot to begin', () => storage.begun.length === 2);
    let stopped = false;
    const stopping = node.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    storage.release();
    await stopping;
    expect(storage.snapshotMeta().index).toBe(storage.begun[1].index);
  });
});

describe('RaftNode with a state machine that captures its snapshot (copy-on-write)', () => {
  it('goes on applying while the bytes are produced; the snapshot is at the index of the capture; a capture that gives null is skipped', async () => {
    const storage = new SlowSnapshotStorage();
    storage.hold();
    storage.release(); // commits go through at once
    const captures: { index: number; give: (bytes: Uint8Array | null) => void }[] = [];
    let applied = 0;
    const node = loneNode(storage, {
      compactionThreshold: 5,
      stateMachine: {
        apply: (_e, ctx) => (applied = ctx.index),
        snapshot: () => {
          throw new Error('snapshot() is not called when captureSnapshot() exists');
        },
        captureSnapshot: () => new Promise((resolve) => captures.push({ index: applied, give: resolve })),
        restore: () => undefined,
      },
    });
    await node.start();
    await waitFor('leadership', () => node.isLeader);
    for (let i = 0; i < 6; i++) await node.propose(encoder.encode(`cmd ${i}`));
    await waitFor('a capture', () => captures.length === 1);

    // Applies are not held back while the capture is pending.
    for (let i = 0; i < 10; i++) await node.propose(encoder.encode(`more ${i}`));
    expect(node.applied).toBeGreaterThanOrEqual(captures[0].index + 10);
    expect(storage.begun).toHaveLength(0);

    captures[0].give(null); // the state was replaced meanwhile: nothing is written
    await node.propose(encoder.encode('next'));
    await waitFor('the next capture', () => captures.length === 2);
    expect(storage.begun).toHaveLength(0);

    captures[1].give(encoder.encode('state'));
    await waitFor('the snapshot written and the log compacted', () => node.status().snapshotIndex === captures[1].index);
    expect(storage.begun.map((m) => m.index)).toEqual([captures[1].index]);
    await node.stop();
  });
});
