import { RaftNode, RaftNodeOptions } from '../../src/runtime';
import { RaftStorage } from '../../src/storage/types';

/** A single-voter `RaftNode` with no peers, for tests of what the runtime does around its storage. */
export function loneNode(storage: RaftStorage, options: Partial<RaftNodeOptions> = {}): RaftNode {
  return new RaftNode({
    id: 'a',
    initialMembers: { a: 'http://a' },
    electionTimeoutMs: [30, 60],
    heartbeatMs: 10,
    compactionThreshold: 1000,
    storage,
    transport: { send: () => undefined, setPeers: () => undefined, close: async () => undefined },
    stateMachine: { apply: (_e, ctx) => ctx.index, snapshot: () => new Uint8Array(0), restore: () => undefined },
    ...options,
  });
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
