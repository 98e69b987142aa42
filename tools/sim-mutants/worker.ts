import * as path from 'path';
import type { SimMachineFactory, SimResult } from '@raft-cqrs/raft/testing';
import type { SeedsResult } from './mutants';
import { machineFor } from '../sim-machines';

type RunSeed = (seed: number, options: { machine?: SimMachineFactory }) => Promise<SimResult>;

/**
 * `node -r @swc-node/register tools/sim-mutants/worker.ts <copy> <from> <to>`: runs the simulator of
 * the copy at `<copy>` (a mutant, or the unmutated baseline) over seeds from..to, on the state machines
 * of `npm run sim` (`mixed`: every 4th seed on the copy's CQRS state machine), stops at the first seed
 * with a violation, and prints one JSON line (a {@link SeedsResult}).
 *
 * It loads the copy's `testing/sim.ts`, whose imports of the core and the runtime are relative, and
 * checks that no file of the repository's own libs/raft/src was loaded: the mutant is what ran. Then
 * the copy's CQRS state machine adapter: what it imports of the module is the copy's (relative), and
 * no file of the repository's libs/raft-cluster/src may be loaded; the engine it reaches by package
 * name is the repository's, which the simulation does not use (its nodes run the copy's core).
 */
async function main(argv: string[]): Promise<void> {
  const [copy, fromArg, toArg] = argv;
  const src = path.resolve(copy, 'libs/raft/src');
  const clusterSrc = path.resolve(copy, 'libs/raft-cluster/src');
  const from = Number(fromArg);
  const to = Number(toArg);
  const started = Date.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sim = require(path.join(src, 'testing/sim')) as { runSeed: RunSeed };
  const foreign = loadedFrom(['libs', 'raft', 'src'], src);
  if (foreign.length > 0 || !(path.join(src, 'core/raft.ts') in require.cache)) {
    throw new Error(`the copy's simulator did not run on the copy's core: loaded ${foreign.join(', ') || 'no core/raft.ts from the copy'}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { cqrsSimMachine } = require(path.join(clusterSrc, 'testing/sim-cqrs-machine')) as { cqrsSimMachine: () => SimMachineFactory };
  const foreignCluster = loadedFrom(['libs', 'raft-cluster', 'src'], clusterSrc);
  if (foreignCluster.length > 0) throw new Error(`the copy's CQRS state machine loaded the repository's module: ${foreignCluster.join(', ')}`);
  const cqrs = cqrsSimMachine();
  const result: SeedsResult = { failedSeed: null, seeds: 0, violation: null, ms: 0 };
  for (let seed = from; seed <= to; seed++) {
    result.seeds++;
    const { violations } = await sim.runSeed(seed, { machine: machineFor(seed, 'mixed', cqrs) });
    if (violations.length > 0) {
      result.failedSeed = seed;
      result.violation = violations[0].split('\n')[0];
      break;
    }
  }
  result.ms = Date.now() - started;
  console.log(JSON.stringify(result));
}

/** Files loaded from a `dir` (given as path segments) other than the copy's `own` one. */
function loadedFrom(dir: string[], own: string): string[] {
  const marker = `${path.sep}${dir.join(path.sep)}${path.sep}`;
  return Object.keys(require.cache).filter((f) => f.includes(marker) && !f.startsWith(own + path.sep));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
