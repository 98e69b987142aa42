import { listMutants, makeCopy, Mutant, removeCopy, runMutant, runSeeds, SeedsResult, takeSources } from './mutants';

const USAGE = 'usage: npm run sim:mutants -- [--budget N] [--jobs N] [--only name,name] [--skip-baseline] [--ref REV] [--timeout SECONDS]';

/**
 * `npm run sim:mutants`: applies each patch of tools/sim-mutants/mutants/ (a bug planted in the Raft
 * core) to a temporary copy of libs/raft/src, runs that copy's simulator over seeds 1..budget, and
 * reports at which seed the simulator caught it, if it did. The copies are made from the working
 * tree, or with `--ref REV` from that git revision (unaffected by edits in progress). See README.md.
 */
async function main(argv: string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const budget = Number(arg('budget') ?? 2000);
  const jobs = Number(arg('jobs') ?? 1);
  const timeoutMs = Number(arg('timeout') ?? 0) * 1000;
  const only = arg('only')?.split(',');
  if (!Number.isInteger(budget) || budget < 1 || !Number.isInteger(jobs) || jobs < 1 || !(timeoutMs >= 0)) {
    console.error(USAGE);
    return 2;
  }
  let mutants = listMutants();
  if (only !== undefined) {
    const unknown = only.filter((n) => !mutants.some((m) => m.name === n || m.name.replace(/^\d+-/, '') === n));
    if (unknown.length > 0) {
      console.error(`no such mutant: ${unknown.join(', ')}`);
      return 2;
    }
    mutants = mutants.filter((m) => only.some((n) => m.name === n || m.name.replace(/^\d+-/, '') === n));
  }

  const base = takeSources(arg('ref') ?? null);
  try {
    if (!argv.includes('--skip-baseline') && !(await baseline(base, budget, jobs))) return 1;
    let caught = 0;
    await pool(mutants, jobs, async (m) => {
      const line = await runOne(base, m, budget, timeoutMs);
      if (line.caught) caught++;
      console.log(line.text);
    });
    console.log(`mutants: ${caught} of ${mutants.length} caught`);
    return caught === mutants.length ? 0 : 1;
  } finally {
    removeCopy(base);
  }
}

/** The unmutated copy must pass the whole budget, or a broken simulator would "catch" every mutant. */
async function baseline(base: string, budget: number, jobs: number): Promise<boolean> {
  const started = Date.now();
  const dir = makeCopy(base, null);
  try {
    const size = Math.ceil(budget / jobs);
    const ranges: [number, number][] = [];
    for (let from = 1; from <= budget; from += size) ranges.push([from, Math.min(budget, from + size - 1)]);
    const results = await Promise.all(ranges.map(([from, to]) => runSeeds(dir, from, to)));
    const failed = results.find((r) => r.failedSeed !== null);
    if (failed !== undefined) {
      console.log(`baseline: FAILED at seed ${failed.failedSeed}: ${failed.violation}`);
      console.log('the unmutated simulator must pass the budget before mutants mean anything');
      return false;
    }
    console.log(`baseline: ${budget} seeds pass (${secs(Date.now() - started)})`);
    return true;
  } finally {
    removeCopy(dir);
  }
}

async function runOne(base: string, m: Mutant, budget: number, timeoutMs: number): Promise<{ caught: boolean; text: string }> {
  const started = Date.now();
  let r: SeedsResult;
  try {
    r = await runMutant(base, m, budget, timeoutMs);
  } catch (err) {
    return { caught: false, text: `${m.name}: FAILED (not caught): ${err instanceof Error ? err.message : String(err)}` };
  }
  const t = secs(Date.now() - started);
  if (r.failedSeed === null) return { caught: false, text: `${m.name}: SURVIVED ${budget} seeds (${t})` };
  return { caught: true, text: `${m.name}: caught at seed ${r.failedSeed} (${r.seeds} seeds, ${t}): ${r.violation}` };
}

/** Runs `work` over `items`, at most `jobs` at a time. */
async function pool<T>(items: T[], jobs: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, lane));
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
