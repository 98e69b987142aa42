import * as path from 'path';
import type { SeedsResult } from './mutants';

/**
 * `node -r @swc-node/register tools/sim-mutants/worker.ts <copy> <from> <to>`: runs the simulator of
 * the copy of libs/raft/src at `<copy>` (a mutant, or the unmutated baseline) over seeds from..to,
 * stops at the first seed with a violation, and prints one JSON line (a {@link SeedsResult}).
 *
 * It loads the copy's `testing/sim.ts`, whose imports of the core and the runtime are relative, and
 * then checks that no file of the repository's own libs/raft/src was loaded: the mutant is what ran.
 */
function main(argv: string[]): void {
  const [copy, fromArg, toArg] = argv;
  const src = path.resolve(copy, 'libs/raft/src');
  const from = Number(fromArg);
  const to = Number(toArg);
  const started = Date.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sim = require(path.join(src, 'testing/sim')) as { runSeed(seed: number): { violations: string[] } };
  const foreign = Object.keys(require.cache).filter((f) => f.includes(`${path.sep}libs${path.sep}raft${path.sep}src${path.sep}`) && !f.startsWith(src + path.sep));
  if (foreign.length > 0 || !(path.join(src, 'core/raft.ts') in require.cache)) {
    throw new Error(`the copy's simulator did not run on the copy's core: loaded ${foreign.join(', ') || 'no core/raft.ts from the copy'}`);
  }
  const result: SeedsResult = { failedSeed: null, seeds: 0, violation: null, ms: 0 };
  for (let seed = from; seed <= to; seed++) {
    result.seeds++;
    const { violations } = sim.runSeed(seed);
    if (violations.length > 0) {
      result.failedSeed = seed;
      result.violation = violations[0].split('\n')[0];
      break;
    }
  }
  result.ms = Date.now() - started;
  console.log(JSON.stringify(result));
}

main(process.argv.slice(2));
