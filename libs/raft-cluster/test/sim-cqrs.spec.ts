import { runSeed } from '@raft-cqrs/raft/testing';
import { cqrsSimMachine } from '../src/testing';

/**
 * The deterministic simulator applying through the production CqrsStateMachine (`npm run sim` gives it
 * every 4th seed): a few seeds on every `npm test`, and the replay of a seed, which the async applies
 * must not disturb.
 */
describe('Raft simulation on the CQRS state machine', () => {
  const machine = cqrsSimMachine();

  it('keeps every invariant, and exercises digests, de-duplication and session eviction (40 seeds)', async () => {
    const failures: string[] = [];
    const counts: Record<string, number> = {};
    for (let seed = 1; seed <= 40; seed++) {
      const res = await runSeed(seed, { machine });
      for (const [name, n] of Object.entries(res.stats.machine)) counts[name] = (counts[name] ?? 0) + n;
      if (res.violations.length > 0) failures.push(`seed ${seed}: ${res.violations[0].slice(0, 2000)}\n  replay: npm run sim -- --seed ${seed} --trace --machine cqrs`);
    }
    expect(failures).toEqual([]);
    expect(counts.digestMatches).toBeGreaterThan(1000);
    expect(counts.duplicatesAnswered).toBeGreaterThan(10);
    expect(counts.sessionEvictions).toBeGreaterThan(1000);
  }, 120_000);

  it('replays a seed exactly', async () => {
    const a = await runSeed(8, { trace: true, machine });
    const b = await runSeed(8, { trace: true, machine });
    expect(a.trace).toEqual(b.trace);
    expect(a.stats).toEqual(b.stats);
    expect(a.stats.machine.digestsProposed).toBeGreaterThan(0);
  });
});
