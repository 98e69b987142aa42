import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The repository root, the sources the mutants patch, and the patches. */
export const REPO = path.resolve(__dirname, '../..');
/**
 * What a copy holds: the engine (the simulator and the core it proves), and the module's sources, whose
 * CQRS state machine the simulator applies through on part of the seeds (a mutant may patch either).
 */
const SOURCES = ['libs/raft/src', 'libs/raft-cluster/src'];
export const MUTANTS_DIR = path.join(__dirname, 'mutants');
const WORKER = path.join(__dirname, 'worker.ts');

export interface Mutant {
  /** The patch's file name without `.patch`, e.g. `03-commit-old-term-by-count`. */
  name: string;
  patch: string;
}

/** What a worker reports for a range of seeds. */
export interface SeedsResult {
  /** The first seed with a violation, or null when every seed passed. */
  failedSeed: number | null;
  /** Seeds run, the failing one included. */
  seeds: number;
  /** The failing seed's first violation (its first line). */
  violation: string | null;
  ms: number;
}

export function listMutants(): Mutant[] {
  return fs
    .readdirSync(MUTANTS_DIR)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.patch'.length), patch: path.join(MUTANTS_DIR, f) }));
}

/**
 * The sources every copy is made from, taken once so that the baseline and every mutant run the same
 * code even while the sources are being edited: {@link SOURCES} as they are in the working tree, or as
 * they are at git revision `ref`. Returns a directory under os.tmpdir() holding them.
 */
export function takeSources(ref: string | null = null): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-mutants-base-'));
  if (ref === null) {
    for (const src of SOURCES) fs.cpSync(path.join(REPO, src), path.join(dir, src), { recursive: true });
  } else {
    const tar = execFileSync('git', ['archive', '--format=tar', ref, ...SOURCES], { cwd: REPO, maxBuffer: 256 << 20 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  }
  return dir;
}

/** Copies the sources at `base` (from {@link takeSources}) to a fresh directory and applies `patch` there (none: the baseline). */
export function makeCopy(base: string, patch: string | null): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-mutant-'));
  for (const src of SOURCES) fs.cpSync(path.join(base, src), path.join(dir, src), { recursive: true });
  // The module's imports of Nest and its other dependencies resolve from the copy as from the repository.
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  if (patch !== null) {
    try {
      gitApply(dir, patch);
    } catch (err) {
      removeCopy(dir);
      throw err;
    }
  }
  return dir;
}

export function removeCopy(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Throws git's message when `patch` does not apply to the sources at `base`; writes nothing. */
export function checkApplies(base: string, patch: string): void {
  gitApply(base, patch, ['--check']);
}

/** `git apply` in a directory outside any repository (os.tmpdir()), where it works as `patch -p1` does, only stricter. */
function gitApply(dir: string, patch: string, flags: string[] = []): void {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  try {
    execFileSync('git', ['apply', ...flags, patch], { cwd: dir, env, stdio: 'pipe' });
  } catch (err) {
    throw new Error((err as { stderr?: Buffer }).stderr?.toString().trim() || String(err));
  }
}

/** Runs the simulator of the copy at `dir` over seeds from..to in a child process (worker.ts), stopping at the first failing seed. */
export function runSeeds(dir: string, from: number, to: number, timeoutMs = 0): Promise<SeedsResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-r', '@swc-node/register', WORKER, dir, String(from), String(to)],
      { cwd: REPO, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        if (err === null && last.startsWith('{')) resolve(JSON.parse(last) as SeedsResult);
        else reject(new Error(err?.killed ? `timed out after ${timeoutMs / 1000} s` : `worker failed: ${(stderr || String(err)).trim().split('\n').slice(0, 5).join(' | ')}`));
      },
    );
  });
}

/** Copies, patches, runs seeds 1..budget and removes the copy; the patch not applying rejects. */
export async function runMutant(base: string, m: Mutant, budget: number, timeoutMs = 0): Promise<SeedsResult> {
  const dir = makeCopy(base, m.patch);
  try {
    return await runSeeds(dir, 1, budget, timeoutMs);
  } finally {
    removeCopy(dir);
  }
}
