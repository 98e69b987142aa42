import { runSeed } from '@raft-cqrs/raft/testing';
import { cqrsSimMachine } from '@raft-cqrs/raft-cluster/testing';
import { MACHINE_MODES, machineFor, MachineMode } from './sim-machines';

const USAGE = 'usage: npm run sim -- --seeds N [--from S] [--machine kv|cqrs|mixed] | --seed S [--trace] [--machine ...]';

/**
 * `npm run sim -- --seeds N [--from S]` or `npm run sim -- --seed S --trace` (replay one seed with its
 * trace). `--machine`: the state machine the nodes apply to (sim-machines.ts; default mixed). Here, not
 * in libs/raft, because the CQRS state machine lives in the package that depends on the engine.
 */
async function main(argv: string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const single = arg('seed');
  const trace = argv.includes('--trace');
  const from = Number(single ?? arg('from') ?? 1);
  const seeds = single !== undefined ? 1 : Number(arg('seeds') ?? 100);
  const mode = (arg('machine') ?? 'mixed') as MachineMode;
  if (!Number.isInteger(from) || !Number.isInteger(seeds) || seeds < 1 || !MACHINE_MODES.includes(mode)) {
    console.error(USAGE);
    return 2;
  }
  const cqrs = cqrsSimMachine();
  const started = Date.now();
  let violations = 0;
  let events = 0;
  let ops = 0;
  let cqrsSeeds = 0;
  const settledMs: number[] = [];
  const faults: Record<string, number> = {};
  const machineCounts: Record<string, number> = {};
  for (let seed = from; seed < from + seeds; seed++) {
    const machine = machineFor(seed, mode, cqrs);
    if (machine !== undefined) cqrsSeeds++;
    const res = await runSeed(seed, { trace, machine });
    events += res.stats.events;
    ops += res.stats.ops;
    if (res.stats.settledMs >= 0) settledMs.push(res.stats.settledMs);
    addCounts(faults, res.stats.faults);
    addCounts(machineCounts, res.stats.machine);
    if (trace) console.log(res.trace.join('\n'));
    if (single !== undefined) console.log(JSON.stringify({ stateMachine: machine === undefined ? 'kv' : 'cqrs', ...res.stats }));
    if (res.violations.length > 0) {
      violations++;
      console.log(`seed ${seed}: ${res.violations.join('; ')}`);
      console.log(`  replay: npm run sim -- --seed ${seed} --trace${mode === 'mixed' ? '' : ` --machine ${mode}`}`);
    }
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${secs.toFixed(1)}s, ${events} events, ${ops} client operations, ${cqrsSeeds} seeds on the CQRS state machine`);
  if (settledMs.length > 0) {
    const mean = settledMs.reduce((a, b) => a + b, 0) / settledMs.length;
    console.log(`settled after the heal: ${settledMs.length} of ${seeds} seeds, after ${mean.toFixed(0)} ms on average (at most ${Math.max(...settledMs)} ms)`);
  }
  printCounts('faults', faults);
  printCounts('state machines', machineCounts);
  console.log(`sim: ${seeds} seeds, ${violations} violations`);
  return violations > 0 ? 1 : 0;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [name, n] of Object.entries(from)) into[name] = (into[name] ?? 0) + n;
}

function printCounts(what: string, counts: Record<string, number>): void {
  const names = Object.keys(counts).sort();
  if (names.length > 0) console.log(`${what}: ${names.map((name) => `${name} ${counts[name]}`).join(', ')}`);
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
