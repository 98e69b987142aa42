/*
 * Power-loss test, in process: FileStorage runs the random workload over PowerLossFs, which knows
 * which bytes and names are durable (synced) and, at a random moment, cuts the power: what was not
 * synced is lost, and an interrupted write may leave part of itself. The directory is then rewritten
 * to what survived and opened again with the real file system: every acknowledged operation must be
 * there, intact. Unlike SIGKILL (crash.spec.ts), this loses page-cache data, so it fails if a write is
 * acknowledged before its sync (drop the O_DSYNC flag or the fdatasync and watch it fail), if a rename
 * is trusted before the directory sync, or if recovery mishandles a torn tail.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileStorage } from '../../src/storage';
import { PowerLossFs } from './test-fs';
import { applyOp, fromLoaded, INITIAL, ModelState, Op, possibleStates, rng, runOp, verifyRecovered, Workload } from './workload';

const CYCLES = Number(process.env.WAL_POWER_CYCLES ?? 30);
const SEED = Number(process.env.WAL_POWER_SEED ?? Date.now() % 1_000_000);
const quiet = { info: () => undefined, warn: () => undefined };

function same(a: ModelState, b: ModelState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('FileStorage under simulated power loss', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-power-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const sync of ['dsync', 'fdatasync'] as const) {
    it(`${CYCLES} power cuts, sync mode ${sync}: acknowledged state survives (seed ${SEED})`, async () => {
      const dir = path.join(tmp, sync);
      const random = rng(SEED + (sync === 'dsync' ? 1 : 2));
      let acked: ModelState = fromLoaded({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: INITIAL, entries: [] });
      let inflight: Op | null = null;
      let ackedOps = 0;
      let crashesInOpen = 0;
      let tornCut = 0;
      let repairs = 0;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const plfs = new PowerLossFs(dir, random);
        // Now and then early, so that the power also goes during recovery and its repairs.
        plfs.crashAfter = random() < 0.15 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 250);
        const storage = new FileStorage(dir, { fs: plfs, sync, segmentBytes: random() < 0.5 ? 8 * 1024 : 64 * 1024, logger: quiet });
        let opened = false;
        try {
          const loaded = await storage.open(INITIAL);
          opened = true;
          const got = fromLoaded(loaded);
          if (!possibleStates(acked, inflight).some((s) => same(s, got))) {
            throw new Error(`cycle ${cycle}: open under PowerLossFs recovered ${JSON.stringify(got)}`);
          }
          acked = got;
          inflight = null;
          const w = new Workload(random, acked, 100_000);
          for (;;) {
            const op = w.next();
            inflight = op;
            await runOp(storage, op, 16 * 1024);
            acked = applyOp(acked, op);
            w.state = acked;
            inflight = null;
            ackedOps++;
          }
        } catch (err) {
          if (!plfs.isCrashed) throw err;
          if (!opened) crashesInOpen++;
        }
        await plfs.idle();
        plfs.materialize();
        await storage.close().catch(() => undefined);

        const logs: string[] = [];
        const check = new FileStorage(dir, { logger: { info: () => undefined, warn: (m) => logs.push(m) } });
        const loaded = await check.open(INITIAL);
        const problems = await verifyRecovered(check, loaded, acked, inflight);
        await check.close();
        if (problems.length > 0) throw new Error(`cycle ${cycle} (seed ${SEED}):\n${problems.join('\n')}\n${logs.join('\n')}`);
        tornCut += logs.filter((l) => l.includes('cut off')).length;
        repairs += logs.filter((l) => /sealed|recording snapshot/.test(l)).length;
        acked = fromLoaded(loaded);
        inflight = null;
      }
      expect(ackedOps).toBeGreaterThan(CYCLES * 5);
      console.log(`power loss (${sync}): ${CYCLES} cuts (${crashesInOpen} during recovery), ${ackedOps} acknowledged operations, ${tornCut} torn tails cut and ${repairs} interrupted rollovers / snapshot commits repaired on recovery`);
    }, 120_000);
  }
});
