import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * CHAT_TRANSCRIPT=1: every chat node writes the `general` conversation to its own transcript file through
 * an every-node event processor. Through a clean restart and a SIGKILL of nodes, each node's transcript
 * ends with every message exactly once, in log order, the same on every node.
 */
jest.setTimeout(120_000);

const ENTRY = 'apps/chat/src/main.ts';
const NODES = ['node1', 'node2', 'node3'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function post(cluster: ProcessCluster, msgId: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const node = NODES[attempt % NODES.length];
    if (!cluster.isRunning(node)) continue;
    try {
      const r = await request(`${cluster.url(node)}/api/v1/message`, { method: 'POST', body: { conv_id: 'general', sender: 'e2e', payload: `text of ${msgId}`, msg_id: msgId }, timeoutMs: 5_000 });
      if (r.status === 200 || r.status === 201) return;
      if (r.status !== 503 && r.status !== 409) throw new Error(`${msgId}: ${r.status} ${r.body}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(msgId)) throw err;
    }
    await sleep(100);
  }
  throw new Error(`${msgId} was never posted`);
}

function transcript(cluster: ProcessCluster, id: string): { msg_id: string; commit_index: number }[] {
  let text = '';
  try {
    text = readFileSync(path.join(cluster.members.get(id)!.dataDir, 'transcript', 'general.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { msg_id: string; commit_index: number });
}

it('every node writes each message once, in log order, through a clean restart and a SIGKILL', async () => {
  const cluster = await ProcessCluster.create({ size: 3, entry: ENTRY, secret: 'chat-transcript-secret-123456', env: { CHAT_TRANSCRIPT: '1', CHAT_PUBLIC_DIR: '' } });
  try {
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    const ids: string[] = [];
    const send = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const id = `t-${ids.length}`;
        await post(cluster, id);
        ids.push(id);
      }
    };
    await send(5);
    await cluster.kill('node2', 'SIGTERM');
    await send(3);
    cluster.start('node2');
    await cluster.waitForLeader(30_000);
    await send(3);
    await cluster.kill('node3', 'SIGKILL');
    await send(3);
    cluster.start('node3');
    await cluster.waitForLeader(30_000);
    await send(2);
    for (const id of NODES) {
      await waitFor(`${id}'s transcript complete`, async () => transcript(cluster, id).length >= ids.length, 30_000);
      const lines = transcript(cluster, id);
      expect(lines.map((l) => l.msg_id)).toEqual(ids);
      const indexes = lines.map((l) => l.commit_index);
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    }
    const status = await cluster.status('node2');
    expect(status.processors?.find((p) => p.name === 'chat-transcript')).toMatchObject({ mode: 'every-node', lag: 0, failing: false });
  } finally {
    await cluster.stopAll();
  }
});
