/**
 * `npm run test:chaos -- --minutes N --seed S`: one Jepsen-style chaos run of the order and chat
 * apps on network-namespace hosts (see chaos.ts). Prints the summary; exits 0 when every verdict
 * passes, 1 when one fails, 2 on a usage or setup error.
 */
import { installSignalCleanup, runChaos } from './chaos';

function parseArgs(argv: string[]): { minutes: number; seed: number } {
  let minutes = 2;
  let seed = Math.floor(Math.random() * 1_000_000);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? a.split('=', 2) : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--minutes') {
      minutes = Number(value());
      if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) throw new Error('--minutes must be a positive number of minutes');
    } else if (flag === '--seed') {
      seed = Number(value());
      if (!Number.isSafeInteger(seed) || seed < 0) throw new Error('--seed must be a non-negative integer');
    } else if (flag === '--help' || flag === '-h') {
      console.log('usage: npm run test:chaos -- [--minutes N] [--seed S]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { minutes, seed };
}

async function main(): Promise<void> {
  let args: { minutes: number; seed: number };
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}\nusage: npm run test:chaos -- [--minutes N] [--seed S]`);
    process.exit(2);
  }
  installSignalCleanup();
  const result = await runChaos(args);
  console.log('\n' + result.text);
  console.log(`\ntimeline: ${result.dir}/timeline.html`);
  process.exit(result.ok ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(2);
});
