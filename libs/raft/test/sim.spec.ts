import { runSeed } from '../src/testing/sim';

/**
 * A few hundred seeds of the deterministic simulation on every `npm test`; `npm run sim -- --seeds N`
 * runs more. A failure names the seed and prints its trace, so it can be replayed alone.
 */
describe('Raft simulation', () => {
  const seeds = Number(process.env.SIM_SEEDS ?? 300);
  const from = Number(process.env.SIM_FROM ?? 1);

  it(`keeps every safety invariant, stays linearizable and recovers after faults (${seeds} seeds)`, async () => {
    const failures: string[] = [];
    let writes = 0;
    let elections = 0;
    let crashes = 0;
    let snapshots = 0;
    for (let seed = from; seed < from + seeds; seed++) {
      const res = await runSeed(seed);
      writes += res.stats.okWrites;
      elections += res.stats.elections;
      crashes += res.stats.crashes;
      snapshots += res.stats.snapshotsSent;
      if (res.violations.length > 0) {
        failures.push(`seed ${seed}: ${res.violations[0].slice(0, 2000)}\n  replay: npm run sim -- --seed ${seed} --trace`);
      }
    }
    expect(failures).toEqual([]);
    // The faults must actually have happened, or the run proves little.
    expect(elections).toBeGreaterThan(seeds);
    expect(crashes).toBeGreaterThan(seeds);
    expect(snapshots).toBeGreaterThan(0);
    expect(writes).toBeGreaterThan(seeds * 100);
  });

  it('replays a seed exactly', async () => {
    const a = await runSeed(42, { trace: true });
    const b = await runSeed(42, { trace: true });
    expect(a.trace).toEqual(b.trace);
    expect(a.stats).toEqual(b.stats);
    expect(a.trace.length).toBeGreaterThan(100);
  });
});
