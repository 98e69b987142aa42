import { runSeed } from './sim';

/** `npm run sim -- --seeds N [--from S]` or `npm run sim -- --seed S --trace` (replay one seed with its trace). */
function main(argv: string[]): number {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const single = arg('seed');
  const trace = argv.includes('--trace');
  const from = Number(single ?? arg('from') ?? 1);
  const seeds = single !== undefined ? 1 : Number(arg('seeds') ?? 100);
  if (!Number.isInteger(from) || !Number.isInteger(seeds) || seeds < 1) {
    console.error('usage: npm run sim -- --seeds N [--from S] | --seed S [--trace]');
    return 2;
  }
  const started = Date.now();
  let violations = 0;
  let events = 0;
  let ops = 0;
  const faults: Record<string, number> = {};
  for (let seed = from; seed < from + seeds; seed++) {
    const res = runSeed(seed, { trace });
    events += res.stats.events;
    ops += res.stats.ops;
    for (const [name, n] of Object.entries(res.stats.faults)) faults[name] = (faults[name] ?? 0) + n;
    if (trace) console.log(res.trace.join('\n'));
    if (single !== undefined) console.log(JSON.stringify(res.stats));
    if (res.violations.length > 0) {
      violations++;
      console.log(`seed ${seed}: ${res.violations.join('; ')}`);
      console.log(`  replay: npm run sim -- --seed ${seed} --trace`);
    }
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${secs.toFixed(1)}s, ${events} events, ${ops} client operations`);
  const counted = Object.keys(faults).sort();
  if (counted.length > 0) console.log(`faults: ${counted.map((name) => `${name} ${faults[name]}`).join(', ')}`);
  console.log(`sim: ${seeds} seeds, ${violations} violations`);
  return violations > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
