/**
 * The runtime syncs for entries, snapshots and new terms or votes, never for a commit index alone
 * (decision 0006), and a clean stop still writes the newest commit index.
 */
import { Entry, HardState, Message, NodeId } from '../../src/core';
import { RaftNode } from '../../src/runtime';
import { MemoryStorage } from '../../src/storage/memory-storage';

class CountingStorage extends MemoryStorage {
  saves: { hardState: HardState | null; entries: number }[] = [];
  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.saves.push({ hardState: hardState === null ? null : { ...hardState }, entries: entries.length });
    return super.save(hardState, entries);
  }
}

/** Delivers messages between in-process nodes on the next event-loop turn. */
class Wire {
  readonly nodes = new Map<NodeId, RaftNode>();
  transport(from: NodeId) {
    return {
      send: (messages: Message[]) => {
        for (const m of messages) setImmediate(() => this.nodes.get(m.to)?.receive([m]));
      },
      setPeers: () => undefined,
      close: async () => undefined,
      from,
    };
  }
}

const counter = () => ({ apply: () => null, snapshot: () => new Uint8Array(0), restore: () => undefined });

describe('RaftNode persistence', () => {
  it('never syncs a hard state that only moves the commit index, and writes the newest one at stop', async () => {
    const wire = new Wire();
    const members = { a: 'http://a', b: 'http://b', c: 'http://c' };
    const storages = new Map<NodeId, CountingStorage>();
    for (const id of Object.keys(members)) {
      const storage = new CountingStorage();
      storages.set(id, storage);
      const node = new RaftNode({
        id,
        initialMembers: members,
        electionTimeoutMs: [60, 120],
        heartbeatMs: 20,
        compactionThreshold: 10_000,
        storage,
        transport: wire.transport(id),
        stateMachine: counter(),
      });
      wire.nodes.set(id, node);
    }
    for (const n of wire.nodes.values()) await n.start();
    const deadline = Date.now() + 5000;
    let leader: RaftNode | undefined;
    while (leader === undefined && Date.now() < deadline) {
      leader = [...wire.nodes.values()].find((n) => n.isLeader);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(leader).toBeDefined();
    for (let i = 0; i < 30; i++) await leader!.propose(new TextEncoder().encode(`cmd ${i}`));
    await new Promise((r) => setTimeout(r, 100)); // heartbeats carry the last commit to the followers

    for (const [id, storage] of storages) {
      let prev: HardState = { term: 0, vote: null, commit: 0 };
      for (const s of storage.saves) {
        // A save without entries must change term or vote: a commit index alone waits for the next sync.
        if (s.entries === 0) {
          expect(s.hardState).not.toBeNull();
          expect(s.hardState!.term !== prev.term || s.hardState!.vote !== prev.vote).toBe(true);
        }
        if (s.hardState !== null) prev = s.hardState;
      }
      // Roughly one sync per replicated batch, not two (the commit-only ones are gone).
      expect(storage.saves.length).toBeLessThanOrEqual(35);
      const committed = wire.nodes.get(id)!.status().commit;
      expect(committed).toBeGreaterThanOrEqual(31);
      await wire.nodes.get(id)!.stop();
      const written = storage.saves.filter((s) => s.hardState !== null);
      expect(written[written.length - 1].hardState!.commit).toBe(committed);
    }
  });
});
