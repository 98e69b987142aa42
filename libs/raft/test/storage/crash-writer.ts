/*
 * Child process of the SIGKILL crash test: opens FileStorage in <dir>, prints `ready <state>`, then runs
 * the random workload forever, printing `begin <op>` before each operation and `ack` once it resolved
 * (that is, once it is durable). Writes to a pipe are synchronous in Node on Linux, so a line printed
 * is a line the parent will read even if this process is killed right after.
 *
 *   node crash-writer.js <dir> <seed> <segmentBytes> <dsync|fdatasync>
 */
import { FileStorage } from '../../src/storage/file-storage';
import { applyOp, encodeOp, fromLoaded, INITIAL, rng, runOp, Workload } from './workload';

async function main(): Promise<void> {
  const [dir, seed, segmentBytes, sync] = process.argv.slice(2);
  const storage = new FileStorage(dir, {
    segmentBytes: Number(segmentBytes),
    sync: sync as 'dsync' | 'fdatasync',
    logger: { info: () => undefined, warn: (m) => process.stderr.write(`${m}\n`) },
  });
  const loaded = await storage.open(INITIAL);
  const w = new Workload(rng(Number(seed)), fromLoaded(loaded), 300_000);
  process.stdout.write(`ready ${JSON.stringify(w.state)}\n`);
  for (;;) {
    const op = w.next();
    process.stdout.write(`begin ${encodeOp(op)}\n`);
    await runOp(storage, op);
    w.state = applyOp(w.state, op);
    process.stdout.write('ack\n');
  }
}

main().catch((err) => {
  process.stderr.write(`crash-writer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
