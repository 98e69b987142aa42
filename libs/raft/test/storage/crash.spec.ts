/*
 * Crash test with real processes: a child (crash-writer.ts) runs a random workload on FileStorage and
 * prints each operation before it starts and `ack` once it is durable; it is killed with SIGKILL at a
 * random moment, many times over the same directory. After each kill the directory is opened again
 * and must hold every acknowledged entry, hard state and snapshot, intact and in order, and nothing
 * else than what the operation in flight may have added (never part of an entry). Most rounds the
 * test opens and checks the directory itself; some rounds it leaves recovery to the next child, so
 * that kills also land in the middle of recovery and its repairs.
 *
 * SIGKILL does not lose what is in the page cache, so this test proves the ordering and the recovery
 * logic under real process death (torn batches, interrupted rollovers and snapshot commits); the loss
 * of unsynced data is covered by power-loss.spec.ts, which models it.
 *
 * WAL_CRASH_KILLS=500 runs a longer campaign (default 40).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { transformFileSync } from '@swc/core';
import { FileStorage } from '../../src/storage';
import { applyOp, fromLoaded, INITIAL, ModelState, Op, possibleStates, rng, verifyRecovered } from './workload';

const KILLS = Number(process.env.WAL_CRASH_KILLS ?? 40);
const SEED = Number(process.env.WAL_CRASH_SEED ?? Date.now() % 1_000_000);
const REPO = path.resolve(__dirname, '../../../..');

/** Compiles the storage sources and the writer to plain JS once, so each child starts in ~0.1 s. */
function build(out: string): string {
  const files = [
    ...fs.readdirSync(path.join(REPO, 'libs/raft/src/storage')).map((f) => `libs/raft/src/storage/${f}`),
    'libs/raft/test/storage/workload.ts',
    'libs/raft/test/storage/crash-writer.ts',
  ].filter((f) => f.endsWith('.ts'));
  for (const f of files) {
    const { code } = transformFileSync(path.join(REPO, f), {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    const dest = path.join(out, f.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, code);
  }
  return path.join(out, 'libs/raft/test/storage/crash-writer.js');
}

interface Run {
  ready: ModelState | null;
  ops: { op: Op; acked: boolean }[];
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the writer and kills it `killAfterMs` after it started (so some kills land during its recovery),
 * or, with `afterReady`, after it reported its recovered state: on a loaded machine a child may need
 * longer than the whole window just to start, and the round would then test nothing.
 */
function runWriter(script: string, dir: string, seed: number, segmentBytes: number, sync: string, killAfterMs: number, afterReady: boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [script, dir, String(seed), String(segmentBytes), sync], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    const kill = (): boolean => child.kill('SIGKILL');
    let timer = setTimeout(kill, afterReady ? 30_000 : killAfterMs);
    let waitingForReady = afterReady;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      // The first line the writer prints is `ready <state>`.
      if (waitingForReady && out.includes('\n')) {
        waitingForReady = false;
        clearTimeout(timer);
        timer = setTimeout(kill, killAfterMs);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const run: Run = { ready: null, ops: [], stderr, code, signal };
      const lines = out.split('\n');
      lines.pop(); // an unfinished line was never printed
      for (const line of lines) {
        if (line.startsWith('ready ')) run.ready = JSON.parse(line.slice(6)) as ModelState;
        else if (line.startsWith('begin ')) run.ops.push({ op: JSON.parse(line.slice(6)) as Op, acked: false });
        else if (line === 'ack') run.ops[run.ops.length - 1].acked = true;
      }
      resolve(run);
    });
  });
}

function same(a: ModelState, b: ModelState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('FileStorage survives SIGKILL at random moments', () => {
  let tmp: string;
  let script: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-crash-'));
    script = build(path.join(tmp, 'build'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const sync of ['dsync', 'fdatasync'] as const) {
    const kills = sync === 'dsync' ? Math.ceil(KILLS * 0.75) : Math.floor(KILLS * 0.25);
    it(
      `${kills} kills, sync mode ${sync}: every acknowledged entry survives, intact and in order (seed ${SEED})`,
      async () => {
        const dir = path.join(tmp, sync);
        const random = rng(SEED + (sync === 'dsync' ? 0 : 7919));
        let acked: ModelState = fromLoaded({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: INITIAL, entries: [] });
        let inflight: Op | null = null;
        let totalAcked = 0;
        let cuts = 0;
        let maxLast = 0;
        for (let k = 0; k < kills; k++) {
          const delay = 30 + Math.floor(random() * 450);
          const segmentBytes = random() < 0.5 ? 64 * 1024 : 1024 * 1024;
          const afterReady = random() < 0.8;
          const run = await runWriter(script, dir, Math.floor(random() * 1e9), segmentBytes, sync, delay, afterReady);
          if (run.signal !== 'SIGKILL') throw new Error(`writer exited on its own (code ${run.code}): ${run.stderr}`);
          cuts += (run.stderr.match(/cut off/g) ?? []).length;
          if (run.ready !== null) {
            // The child recovered by itself: what it found must be a state the last crash may leave.
            const allowed = possibleStates(acked, inflight);
            if (!allowed.some((s) => same(s, run.ready!))) {
              throw new Error(`round ${k}: the writer recovered ${JSON.stringify(run.ready)}, not one of ${JSON.stringify(allowed)}`);
            }
            acked = run.ready;
            inflight = null;
            for (const { op, acked: done } of run.ops) {
              if (done) {
                totalAcked++;
                acked = applyOp(acked, op);
              } else {
                inflight = op;
              }
            }
          }
          if (random() < 0.75 || k === kills - 1) {
            const logs: string[] = [];
            const storage = new FileStorage(dir, { logger: { info: () => undefined, warn: (m) => logs.push(m) } });
            const loaded = await storage.open(INITIAL);
            const problems = await verifyRecovered(storage, loaded, acked, inflight);
            await storage.close();
            if (problems.length > 0) throw new Error(`round ${k} (seed ${SEED}):\n${problems.join('\n')}\n${logs.join('\n')}`);
            cuts += logs.filter((l) => l.includes('cut off')).length;
            acked = fromLoaded(loaded);
            inflight = null;
            maxLast = Math.max(maxLast, loaded.snapshot.index + loaded.entries.length);
          }
        }
        // The campaign must have done real work: many acknowledged operations across the kills.
        expect(totalAcked).toBeGreaterThan(kills * 5);
        console.log(`crash test (${sync}): ${kills} kills, ${totalAcked} acknowledged operations, log reached index ${maxLast}, ${cuts} torn tails cut`);
      },
      Math.max(60_000, kills * 3_000),
    );
  }
});
