import { promises as fsp } from 'fs';
import * as path from 'path';
import { errnoCode, FsLayer, O, readWholeFile, writeAll } from './fs-layer';
import { StorageError } from './types';

/*
 * Who holds a data directory: "pid start boot" in its LOCK file, where start is the process's start
 * time (field 22 of /proc/<pid>/stat) and boot the kernel's boot id, so that neither a pid reused by
 * another process nor one from before a reboot counts as the holder. The file is not synced: after a
 * power cut it may come back empty or cut short, which reads as "nobody". Off Linux only the pid is
 * compared. A guard against two nodes configured with the same directory, not a mutual-exclusion
 * primitive.
 */

async function readProc(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

async function startTime(pid: number): Promise<string> {
  const stat = await readProc(`/proc/${pid}/stat`);
  if (stat === null) return '-';
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? '-';
}

async function bootId(): Promise<string> {
  return ((await readProc('/proc/sys/kernel/random/boot_id')) ?? '-').trim();
}

export async function ownIdentity(): Promise<string> {
  return identityOf(process.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** The pid of the live process that `content` (a LOCK file) names, or null if it names none (or us). */
export async function liveHolder(content: string): Promise<number | null> {
  const m = /^(\d+) (\S+) (\S+)\n?$/.exec(content);
  if (m === null) return null;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return null;
  if (m[3] !== (await bootId())) return null;
  if (m[2] !== (await startTime(pid))) return null;
  return pid;
}

/** The identity a LOCK file written by process `pid` holds (for tests and diagnostics). */
export async function identityOf(pid: number): Promise<string> {
  return `${pid} ${await startTime(pid)} ${await bootId()}`;
}

/** Takes the data directory `dir`: refuses ('locked') if a live process holds it, else writes our identity. */
export async function lockDirectory(fs: FsLayer, dir: string): Promise<void> {
  const file = path.join(dir, 'LOCK');
  try {
    const holder = await liveHolder((await readWholeFile(fs, file)).toString('utf8'));
    if (holder !== null) throw new StorageError('locked', `${dir} is in use by process ${holder} (${file})`, file);
  } catch (err) {
    if (err instanceof StorageError) throw err;
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const fd = await fs.open(file, O.O_WRONLY | O.O_CREAT | O.O_TRUNC);
  try {
    await writeAll(fs, fd, Buffer.from(`${await ownIdentity()}\n`), 0);
  } finally {
    await fs.close(fd);
  }
}

/** Releases the data directory (best effort: a LOCK left behind names a process that is gone). */
export async function unlockDirectory(fs: FsLayer, dir: string): Promise<void> {
  await fs.unlink(path.join(dir, 'LOCK')).catch(() => undefined);
}
