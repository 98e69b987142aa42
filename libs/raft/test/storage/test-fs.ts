import * as fs from 'fs';
import * as path from 'path';
import { FsLayer, nodeFs } from '../../src/storage/fs-layer';

export interface FsCall {
  op: keyof FsLayer;
  file: string;
  fd?: number;
  flags?: number;
  length?: number;
  position?: number;
}

/**
 * The real file system, with every call recorded and two hooks: `gate` is awaited before a call runs
 * (to hold a write or a sync in flight), `fault` may return an error to throw instead of running it.
 */
export class TestFs implements FsLayer {
  readonly calls: FsCall[] = [];
  readonly fdFile = new Map<number, string>();
  readonly fdFlags = new Map<number, number>();
  gate: ((call: FsCall) => Promise<void> | void) | null = null;
  fault: ((call: FsCall) => NodeJS.ErrnoException | null) | null = null;

  protected async before(call: FsCall): Promise<void> {
    this.calls.push(call);
    if (this.gate !== null) await this.gate(call);
    const err = this.fault?.(call) ?? null;
    if (err !== null) throw err;
  }

  private f(fd: number): string {
    return this.fdFile.get(fd) ?? `fd ${fd}`;
  }

  async open(file: string, flags: number, mode?: number): Promise<number> {
    await this.before({ op: 'open', file, flags });
    const fd = await nodeFs.open(file, flags, mode);
    this.fdFile.set(fd, file);
    this.fdFlags.set(fd, flags);
    return fd;
  }
  async close(fd: number): Promise<void> {
    await this.before({ op: 'close', file: this.f(fd), fd });
    this.fdFile.delete(fd);
    this.fdFlags.delete(fd);
    return nodeFs.close(fd);
  }
  async write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.before({ op: 'write', file: this.f(fd), fd, flags: this.fdFlags.get(fd), length, position });
    return nodeFs.write(fd, buf, offset, length, position);
  }
  async read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.before({ op: 'read', file: this.f(fd), fd, length, position });
    return nodeFs.read(fd, buf, offset, length, position);
  }
  async fdatasync(fd: number): Promise<void> {
    await this.before({ op: 'fdatasync', file: this.f(fd), fd });
    return nodeFs.fdatasync(fd);
  }
  async fsync(fd: number): Promise<void> {
    await this.before({ op: 'fsync', file: this.f(fd), fd });
    return nodeFs.fsync(fd);
  }
  async ftruncate(fd: number, length: number): Promise<void> {
    await this.before({ op: 'ftruncate', file: this.f(fd), fd, length });
    return nodeFs.ftruncate(fd, length);
  }
  async fstatSize(fd: number): Promise<number> {
    await this.before({ op: 'fstatSize', file: this.f(fd), fd });
    return nodeFs.fstatSize(fd);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.before({ op: 'rename', file: `${from} -> ${to}` });
    await nodeFs.rename(from, to);
    for (const [fd, file] of this.fdFile) if (file === from) this.fdFile.set(fd, to);
  }
  async unlink(file: string): Promise<void> {
    await this.before({ op: 'unlink', file });
    return nodeFs.unlink(file);
  }
  async readdir(file: string): Promise<string[]> {
    await this.before({ op: 'readdir', file });
    return nodeFs.readdir(file);
  }
  async mkdir(file: string): Promise<void> {
    await this.before({ op: 'mkdir', file });
    return nodeFs.mkdir(file);
  }
}

export function errno(code: string, message = code): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

type Pending = { kind: 'write'; position: number; data: Buffer } | { kind: 'truncate'; length: number };

interface Inode {
  durable: Buffer;
  pending: Pending[];
}

/**
 * A model of what survives a power cut, over the real file system of one directory. File data is
 * durable only once fsync / fdatasync ran on the file (or, for a file opened O_DSYNC, once the write
 * returned); names (creations, renames, deletions) only once the directory was fsynced.
 *
 * `crash()` (or reaching `crashAfter` mutating calls) cuts the power: every call that starts later
 * fails with EIO; calls already in flight complete. Once `idle()`, `materialize()` rewrites the
 * directory to exactly what survived: the durable names with their durable contents, plus, when
 * `torn` is set, sometimes a random prefix of a file's unsynced writes with the last one cut short,
 * as a crash in the middle of writing leaves.
 */
export class PowerLossFs implements FsLayer {
  private readonly inodes = new Map<number, Inode>();
  private names = new Map<string, number>();
  private durableNames = new Map<string, number>();
  private readonly fds = new Map<number, { ino: number; dsync: boolean } | 'dir'>();
  private nextIno = 1;
  private crashed = false;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Mutating calls so far; the power is cut when it reaches `crashAfter`. */
  mutations = 0;
  crashAfter = Infinity;

  constructor(
    readonly dir: string,
    private readonly random: () => number,
    private readonly torn = true,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of fs.readdirSync(dir)) {
      const ino = this.nextIno++;
      this.inodes.set(ino, { durable: fs.readFileSync(path.join(dir, name)), pending: [] });
      this.names.set(name, ino);
    }
    this.durableNames = new Map(this.names);
  }

  get isCrashed(): boolean {
    return this.crashed;
  }

  private name(file: string): string {
    if (path.dirname(file) !== this.dir) throw new Error(`PowerLossFs: ${file} is outside ${this.dir}`);
    return path.basename(file);
  }

  /** Runs a call unless the power is off; a call that began before the cut completes (and counts). */
  private async run<T>(mutating: boolean, body: () => Promise<T>): Promise<T> {
    if (this.crashed) throw errno('EIO', 'power lost');
    if (mutating && ++this.mutations >= this.crashAfter) {
      this.crash();
      throw errno('EIO', 'power lost');
    }
    this.inflight++;
    try {
      return await body();
    } finally {
      if (--this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves once no call is in flight. */
  idle(): Promise<void> {
    return this.inflight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private inode(fd: number): Inode & { dsync: boolean } {
    const h = this.fds.get(fd);
    if (h === undefined || h === 'dir') throw new Error(`PowerLossFs: fd ${fd} is not a file`);
    return Object.assign(this.inodes.get(h.ino)!, { dsync: h.dsync });
  }

  async open(file: string, flags: number, mode?: number): Promise<number> {
    if (file === this.dir) {
      return this.run(false, async () => {
        const fd = await nodeFs.open(file, flags, mode);
        this.fds.set(fd, 'dir');
        return fd;
      });
    }
    const name = this.name(file);
    const creates = (flags & fs.constants.O_CREAT) !== 0 && !this.names.has(name);
    const truncates = (flags & fs.constants.O_TRUNC) !== 0;
    return this.run(creates || truncates, async () => {
      const fd = await nodeFs.open(file, flags, mode);
      if (!this.names.has(name)) {
        const ino = this.nextIno++;
        this.inodes.set(ino, { durable: Buffer.alloc(0), pending: [] });
        this.names.set(name, ino);
      } else if (truncates) {
        this.inodes.get(this.names.get(name)!)!.pending.push({ kind: 'truncate', length: 0 });
      }
      this.fds.set(fd, { ino: this.names.get(name)!, dsync: (flags & fs.constants.O_DSYNC) !== 0 });
      return fd;
    });
  }

  /** Closing works even after the crash (it changes nothing on disk), so tests can release descriptors. */
  async close(fd: number): Promise<void> {
    this.fds.delete(fd);
    await nodeFs.close(fd);
  }

  async write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (!this.crashed && this.mutations + 1 >= this.crashAfter && this.torn && this.random() < 0.5) {
      // The power goes while this write is under way: part of it reaches the disk.
      const node = this.inode(fd);
      const part: Pending = { kind: 'write', position, data: Buffer.from(buf.subarray(offset, offset + Math.floor(this.random() * length))) };
      if (node.dsync) node.durable = apply(node.durable, part);
      else node.pending.push(part);
    }
    return this.run(true, async () => {
      const node = this.inode(fd);
      const n = await nodeFs.write(fd, buf, offset, length, position);
      const data = Buffer.from(buf.subarray(offset, offset + n));
      if (node.dsync) node.durable = apply(node.durable, { kind: 'write', position, data });
      else node.pending.push({ kind: 'write', position, data });
      return n;
    });
  }

  async read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run(false, () => nodeFs.read(fd, buf, offset, length, position));
  }

  private sync(fd: number): void {
    const h = this.fds.get(fd);
    if (h === 'dir') {
      this.durableNames = new Map(this.names);
      return;
    }
    const node = this.inode(fd);
    for (const p of node.pending) node.durable = apply(node.durable, p);
    node.pending = [];
  }

  async fdatasync(fd: number): Promise<void> {
    return this.run(true, async () => {
      await nodeFs.fdatasync(fd);
      this.sync(fd);
    });
  }

  async fsync(fd: number): Promise<void> {
    return this.run(true, async () => {
      await nodeFs.fsync(fd);
      this.sync(fd);
    });
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    return this.run(true, async () => {
      await nodeFs.ftruncate(fd, length);
      this.inode(fd).pending.push({ kind: 'truncate', length });
    });
  }

  async fstatSize(fd: number): Promise<number> {
    return this.run(false, () => nodeFs.fstatSize(fd));
  }

  async rename(from: string, to: string): Promise<void> {
    return this.run(true, async () => {
      await nodeFs.rename(from, to);
      const ino = this.names.get(this.name(from))!;
      this.names.delete(this.name(from));
      this.names.set(this.name(to), ino);
    });
  }

  async unlink(file: string): Promise<void> {
    return this.run(true, async () => {
      await nodeFs.unlink(file);
      this.names.delete(this.name(file));
    });
  }

  async readdir(file: string): Promise<string[]> {
    return this.run(false, () => nodeFs.readdir(file));
  }

  async mkdir(file: string): Promise<void> {
    return this.run(false, () => nodeFs.mkdir(file));
  }

  crash(): void {
    this.crashed = true;
  }

  /** Rewrites the directory to exactly what survived the crash (call once `idle()`). */
  materialize(): void {
    if (!this.crashed) throw new Error('PowerLossFs: materialize() before crash()');
    for (const name of fs.readdirSync(this.dir)) fs.unlinkSync(path.join(this.dir, name));
    for (const [name, ino] of this.durableNames) {
      const node = this.inodes.get(ino)!;
      let content = node.durable;
      if (this.torn && node.pending.length > 0 && this.random() < 0.5) {
        const k = Math.floor(this.random() * (node.pending.length + 1));
        for (let i = 0; i < k; i++) {
          const p = node.pending[i];
          if (i === k - 1 && p.kind === 'write') {
            content = apply(content, { kind: 'write', position: p.position, data: p.data.subarray(0, Math.floor(this.random() * p.data.length)) });
          } else {
            content = apply(content, p);
          }
        }
      }
      fs.writeFileSync(path.join(this.dir, name), content);
    }
  }
}

function apply(content: Buffer, p: Pending): Buffer {
  if (p.kind === 'truncate') {
    if (p.length <= content.length) return content.subarray(0, p.length);
    return Buffer.concat([content, Buffer.alloc(p.length - content.length)]);
  }
  const end = p.position + p.data.length;
  const out = end > content.length ? Buffer.concat([content, Buffer.alloc(end - content.length)]) : Buffer.from(content);
  p.data.copy(out, p.position);
  return out;
}
