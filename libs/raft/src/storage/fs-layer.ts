import * as fs from 'fs';

/**
 * The file operations storage uses, all asynchronous (libuv thread pool): nothing here blocks the event
 * loop, so timers (heartbeats, elections) keep running while a write or a sync is in flight. Tests
 * substitute layers that delay, fail or "lose power".
 */
export interface FsLayer {
  open(path: string, flags: number, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  /** One `pwrite`; may write fewer bytes than asked (use {@link writeAll}). */
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  fstatSize(fd: number): Promise<number>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
}

function cb<T>(run: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * Node's callback API (lighter than `fs.promises` file handles: no handle objects, one promise per call).
 * Functions are looked up on the `fs` module at call time so that tests can spy on them.
 */
export const nodeFs: FsLayer = {
  open: (path, flags, mode = 0o644) => cb<number>((done) => fs.open(path, flags, mode, done)),
  close: (fd) => cb<void>((done) => fs.close(fd, done)),
  write: (fd, buf, offset, length, position) => cb<number>((done) => fs.write(fd, buf, offset, length, position, done)),
  read: (fd, buf, offset, length, position) => cb<number>((done) => fs.read(fd, buf, offset, length, position, done)),
  fdatasync: (fd) => cb<void>((done) => fs.fdatasync(fd, done)),
  fsync: (fd) => cb<void>((done) => fs.fsync(fd, done)),
  ftruncate: (fd, length) => cb<void>((done) => fs.ftruncate(fd, length, done)),
  fstatSize: (fd) => cb<fs.Stats>((done) => fs.fstat(fd, done)).then((st) => st.size),
  rename: (from, to) => cb<void>((done) => fs.rename(from, to, done)),
  unlink: (path) => cb<void>((done) => fs.unlink(path, done)),
  readdir: (path) => cb<string[]>((done) => fs.readdir(path, done)),
  mkdir: (path) => cb<string | undefined>((done) => fs.mkdir(path, { recursive: true }, done)).then(() => undefined),
};

export const O = fs.constants;

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeAll(layer: FsLayer, fd: number, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await layer.write(fd, buf, done, buf.length - done, position + done);
    if (n <= 0) throw Object.assign(new Error(`write returned ${n}`), { code: 'EIO' });
    done += n;
  }
}

/** Reads up to `length` bytes at `position` (fewer only at end of file). */
export async function readAt(layer: FsLayer, fd: number, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = await layer.read(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

export async function readWholeFile(layer: FsLayer, path: string): Promise<Buffer> {
  const fd = await layer.open(path, O.O_RDONLY);
  try {
    const size = await layer.fstatSize(fd);
    return await readAt(layer, fd, 0, size);
  } finally {
    await layer.close(fd);
  }
}

/** fsync of a directory: makes file creations, renames and deletions in it durable. */
export async function fsyncDir(layer: FsLayer, dir: string): Promise<void> {
  const fd = await layer.open(dir, O.O_RDONLY | (O.O_DIRECTORY ?? 0));
  try {
    await layer.fsync(fd);
  } finally {
    await layer.close(fd);
  }
}

export function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}
