/*
 * WAL benchmark: durable appends per second and sync latency for 200-byte entries, one at a time and in
 * batches of 10, 100 and 1000, against the raw fdatasync latency of the same disk, measured in the same
 * run. Disks in shared machines are noisy, so the measurements are interleaved: every round runs a
 * block of raw syncs, then a block of each batch size, and the statistics are over all rounds.
 *
 *   npm run bench:wal [-- --rounds 10 --sync dsync|fdatasync|both --dir /path]
 *
 * raw fdatasync: write(2) of one 230-byte record at the end of a file, then fdatasync(2), both called
 *   synchronously (no thread pool): the floor any durable append on this disk pays. Its latency is the
 *   fdatasync call alone.
 * bare async O_DSYNC pwrite: the same record written with fs.write (callback) to a file opened O_DSYNC:
 *   the floor for a durable append that does not block the event loop (one thread-pool round trip).
 *   The difference between it and "wal batch 1" is what the storage itself costs.
 * wal batch N: FileStorage.save(hardState, N entries) from call to resolution (encoding, checksums,
 *   the write, the sync, the thread pool round trip), one call at a time, as the runtime makes them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Entry } from '@raft-cqrs/raft';
import { FileStorage } from '@raft-cqrs/raft/storage';

const args = process.argv.slice(2);
function arg(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

const ROUNDS = parseInt(arg('rounds', '10'), 10);
const SYNC = arg('sync', 'both');
const ROOT = arg('dir', path.join(os.tmpdir(), `raft-wal-bench-${process.pid}`));
const PAYLOAD = 200;
const BATCHES: { size: number; callsPerRound: number }[] = [
  { size: 1, callsPerRound: 100 },
  { size: 10, callsPerRound: 50 },
  { size: 100, callsPerRound: 20 },
  { size: 1000, callsPerRound: 4 },
];
const RAW_PER_ROUND = 100;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function pct(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;

interface Series {
  latencies: number[];
  entries: number;
  time: number;
}

async function main(): Promise<void> {
  fs.mkdirSync(ROOT, { recursive: true });
  const modes: ('dsync' | 'fdatasync')[] = SYNC === 'both' ? ['dsync', 'fdatasync'] : [SYNC as 'dsync' | 'fdatasync'];
  const payload = new Uint8Array(PAYLOAD);
  for (let i = 0; i < PAYLOAD; i++) payload[i] = (i * 31 + 7) & 0xff;
  const conf = { voters: ['n1'], learners: [], addresses: {} };

  const rawFile = path.join(ROOT, 'raw');
  const rawFd = fs.openSync(rawFile, 'w');
  const record = Buffer.alloc(PAYLOAD + 30, 1);
  let rawPos = 0;
  const raw: number[] = [];
  const bareFd = fs.openSync(path.join(ROOT, 'bare'), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_DSYNC);
  let barePos = 0;
  const bare: number[] = [];

  const stores = new Map<string, { s: FileStorage; next: number }>();
  const series = new Map<string, Series>();
  for (const mode of modes) {
    const s = new FileStorage(path.join(ROOT, mode), { sync: mode, logger: { info: () => undefined, warn: (m) => console.warn(m) } });
    await s.open({ index: 0, term: 0, conf, size: 0 });
    stores.set(mode, { s, next: 1 });
    for (const b of BATCHES) series.set(`${mode}:${b.size}`, { latencies: [], entries: 0, time: 0 });
  }

  // Warm-up: one round of everything, discarded.
  for (let round = -1; round < ROUNDS; round++) {
    for (let i = 0; i < RAW_PER_ROUND; i++) {
      fs.writeSync(rawFd, record, 0, record.length, rawPos);
      rawPos += record.length;
      const t0 = now();
      fs.fdatasyncSync(rawFd);
      if (round >= 0) raw.push(now() - t0);
    }
    for (let i = 0; i < RAW_PER_ROUND; i++) {
      const t0 = now();
      await new Promise<void>((resolve, reject) => fs.write(bareFd, record, 0, record.length, barePos, (err) => (err ? reject(err) : resolve())));
      barePos += record.length;
      if (round >= 0) bare.push(now() - t0);
    }
    for (const mode of modes) {
      const st = stores.get(mode)!;
      for (const b of BATCHES) {
        const ser = series.get(`${mode}:${b.size}`)!;
        for (let c = 0; c < b.callsPerRound; c++) {
          const entries: Entry[] = [];
          for (let k = 0; k < b.size; k++) entries.push({ index: st.next + k, term: 1, type: 0, data: payload });
          const t0 = now();
          await st.s.save({ term: 1, vote: 'n1', commit: st.next - 1 }, entries);
          const dt = now() - t0;
          st.next += b.size;
          if (round >= 0) {
            ser.latencies.push(dt);
            ser.entries += b.size;
            ser.time += dt;
          }
        }
      }
    }
  }
  fs.closeSync(rawFd);
  fs.closeSync(bareFd);
  for (const { s } of stores.values()) await s.close();
  if (!args.includes('--dir')) fs.rmSync(ROOT, { recursive: true, force: true });

  const rawP50 = pct(raw, 0.5);
  console.log(`WAL benchmark: ${PAYLOAD}-byte entries, ${ROUNDS} interleaved rounds, node ${process.version}, ${os.cpus().length} cpus, dir ${ROOT}`);
  console.log(`raw fdatasync (after a ${record.length}-byte append): p50 ${fmt(rawP50)}  p99 ${fmt(pct(raw, 0.99))}  (${raw.length} syncs, ${Math.round(1000 / (raw.reduce((a, b) => a + b, 0) / raw.length))} syncs/s)`);
  console.log(`bare async O_DSYNC pwrite (thread pool, no storage): p50 ${fmt(pct(bare, 0.5))}  p99 ${fmt(pct(bare, 0.99))}  (p50 ${(pct(bare, 0.5) / rawP50).toFixed(2)}x raw fdatasync)`);
  for (const mode of modes) {
    console.log(`sync mode ${mode}:`);
    for (const b of BATCHES) {
      const ser = series.get(`${mode}:${b.size}`)!;
      const perSec = Math.round((ser.entries / ser.time) * 1000);
      const p50 = pct(ser.latencies, 0.5);
      console.log(
        `  batch ${String(b.size).padStart(4)}: ${String(perSec).padStart(8)} durable entries/s   sync latency p50 ${fmt(p50)}  p99 ${fmt(pct(ser.latencies, 0.99))}` +
          (b.size === 1 ? `   (p50 ${(p50 / rawP50).toFixed(2)}x raw fdatasync)` : ''),
      );
    }
  }
  const d1 = series.get(`${modes[0]}:1`)!;
  const d100 = series.get(`${modes[0]}:100`)!;
  const r1 = pct(d1.latencies, 0.5) / rawP50;
  const t100 = (d100.entries / d100.time) * 1000;
  console.log(
    `goals (${modes[0]}): batch 100 >= 50,000 entries/s: ${t100 >= 50000 ? 'met' : 'NOT met'} (${Math.round(t100)}); ` +
      `single append p50 <= 1.2x raw fdatasync p50: ${r1 <= 1.2 ? 'met' : 'NOT met'} (${r1.toFixed(2)}x)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
