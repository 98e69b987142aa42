/**
 * With `readiesInFlight` above one, the runtime hands the next write to storage while the previous one
 * is still syncing; a lone voter still commits an entry only once its own write of it is durable, and
 * commands resolve in log order. With the default of one, the next write waits.
 */
import { Entry, HardState } from '../../src/core';
import { RaftNode } from '../../src/runtime';
import { MemoryStorage } from '../../src/storage/memory-storage';
import { loneNode, waitFor } from './lone-node';

/** Holds each `save()` that carries entries until `release()` lets the oldest through. */
class GatedStorage extends MemoryStorage {
  readonly held: { entries: number[]; release: () => void }[] = [];
  gating = false;

  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    if (!this.gating || entries.length === 0) return super.save(hardState, entries);
    return new Promise((resolve) => {
      this.held.push({ entries: entries.map((e) => e.index), release: () => resolve(super.save(hardState, entries)) });
    });
  }

  releaseOldest(): void {
    this.held.shift()!.release();
  }
}

const encoder = new TextEncoder();

async function loneLeader(storage: MemoryStorage, readiesInFlight?: number): Promise<RaftNode> {
  const node = loneNode(storage, { readiesInFlight });
  await node.start();
  await waitFor('leadership', () => node.isLeader && node.applied >= 1);
  return node;
}

describe('RaftNode with pipelined writes', () => {
  it('hands the next write to storage while one syncs, and commits each entry only once it is durable', async () => {
    const storage = new GatedStorage();
    const node = await loneLeader(storage, 4);
    storage.gating = true;
    const settled: number[] = [];
    const first = node.propose(encoder.encode('x')).then((r) => settled.push(r.index));
    await waitFor('the first write', () => storage.held.length === 1);
    const second = node.propose(encoder.encode('y')).then((r) => settled.push(r.index));
    await waitFor('the second write while the first is held', () => storage.held.length === 2);
    const [a, b] = storage.held.map((h) => h.entries);
    expect(b[0]).toBe(a[a.length - 1] + 1);

    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toEqual([]); // nothing is durable, so nothing is committed

    // The first write lands: its entry commits, but is applied only after the Ready in flight behind
    // it finishes, since Readies finish in order.
    storage.releaseOldest();
    await waitFor('the first entry to commit', () => node.status().commit === a[a.length - 1]);
    expect(settled).toEqual([]);
    storage.releaseOldest();
    await Promise.all([first, second]);
    expect(settled).toEqual([...a, ...b]);
    storage.gating = false;
    await node.stop();
  });

  it('by default waits for a write to finish before the next one is handed over', async () => {
    const storage = new GatedStorage();
    const node = await loneLeader(storage);
    storage.gating = true;
    const first = node.propose(encoder.encode('x'));
    await waitFor('the first write', () => storage.held.length === 1);
    const second = node.propose(encoder.encode('y'));
    await new Promise((r) => setTimeout(r, 30));
    expect(storage.held).toHaveLength(1);
    storage.releaseOldest();
    await waitFor('the second write, once the first is done', () => storage.held.length === 1);
    storage.releaseOldest();
    await Promise.all([first, second]);
    storage.gating = false;
    await node.stop();
  });
});
