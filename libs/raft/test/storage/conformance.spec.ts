/*
 * The RaftStorage contract, run against both implementations: what is saved comes back after a
 * restart, truncation of a conflicting tail, the snapshot rules (RaftLog.compact / restore), streamed
 * snapshots, validation, ordering of queued calls.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Entry, SnapshotMeta } from '../../src/core/types';
import { FileStorage, MemoryStorage, RaftStorage, StorageError } from '../../src/storage';
import { CONF, INITIAL, makeEntry, snapshotBytes } from './workload';

const quiet = { info: () => undefined, warn: () => undefined };

interface Harness {
  name: string;
  /** A fresh, unopened storage. */
  create(): RaftStorage;
  /** The same durable state, as after a restart (the old instance is closed first). */
  restart(old: RaftStorage): Promise<RaftStorage>;
}

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-conf-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let dirs = 0;
const harnesses: Harness[] = [
  {
    name: 'MemoryStorage',
    create: () => new MemoryStorage(),
    restart: async (old) => {
      await old.close();
      return old;
    },
  },
  {
    name: 'FileStorage',
    create: () => new FileStorage(path.join(tmp, `d${++dirs}`), { logger: quiet, segmentBytes: 2048 }),
    restart: async (old) => {
      await old.close();
      return new FileStorage((old as FileStorage).dir, { logger: quiet, segmentBytes: 2048 });
    },
  },
];

function run(first: number, last: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = first; i <= last; i++) out.push(makeEntry(i, term));
  return out;
}

function shape(entries: Entry[]): string {
  return entries.map((e) => `${e.index}/${e.term}`).join(' ');
}

async function writeSnapshot(s: RaftStorage, index: number, term: number, size: number, chunk = 1000): Promise<SnapshotMeta> {
  const meta: SnapshotMeta = { index, term, conf: CONF, size };
  const w = s.beginSnapshot(meta);
  for (let at = 0; at < size; at += chunk) await w.write(at, snapshotBytes(index, term, at, Math.min(chunk, size - at)));
  await w.commit();
  return meta;
}

async function readAll(s: RaftStorage, chunk = 777): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s.snapshotChunks(chunk)) parts.push(c);
  return Buffer.concat(parts);
}

describe.each(harnesses)('$name', (h) => {
  let s: RaftStorage;
  beforeEach(async () => {
    s = h.create();
  });
  afterEach(async () => {
    await s.close();
  });

  it('starts empty: the initial snapshot, a zero hard state, no entries', async () => {
    const st = await s.open(INITIAL);
    expect(st).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: INITIAL, entries: [] });
    expect(s.snapshotMeta()).toEqual(INITIAL);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    s = await h.restart(s);
    expect(await s.open(INITIAL)).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: INITIAL, entries: [] });
  });

  it('returns after a restart exactly what was saved: hard state, entries, binary payloads', async () => {
    await s.open(INITIAL);
    const entries = run(1, 50, 1);
    entries[7] = { ...entries[7], type: 2, data: new Uint8Array([0, 255, 0, 1, 128]) };
    entries[8] = { ...entries[8], data: new Uint8Array(0) };
    await s.save({ term: 1, vote: 'n1', commit: 0 }, entries.slice(0, 20));
    await s.save(null, entries.slice(20));
    await s.save({ term: 1, vote: 'n1', commit: 42 }, []);
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(st.hardState).toEqual({ term: 1, vote: 'n1', commit: 42 });
    expect(st.entries).toEqual(entries);
    expect(await s.readEntries(1, 50)).toEqual(entries);
    expect(await s.readEntries(8, 9)).toEqual(entries.slice(7, 9));
  });

  it('truncates the stored log at entries[0].index, durably', async () => {
    await s.open(INITIAL);
    await s.save({ term: 1, vote: null, commit: 0 }, run(1, 10, 1));
    await s.save({ term: 2, vote: 'n2', commit: 2 }, run(4, 6, 2));
    expect(shape(await s.readEntries(1, 6))).toBe('1/1 2/1 3/1 4/2 5/2 6/2');
    expect(s.lastIndex()).toBe(6);
    await s.save({ term: 3, vote: 'n3', commit: 2 }, run(3, 3, 3));
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(shape(st.entries)).toBe('1/1 2/1 3/3');
    expect(st.hardState).toEqual({ term: 3, vote: 'n3', commit: 2 });
    expect(st.entries).toEqual([...run(1, 2, 1), ...run(3, 3, 3)]);
  });

  it('applies queued calls in call order', async () => {
    await s.open(INITIAL);
    const done: number[] = [];
    await Promise.all([
      s.save({ term: 1, vote: null, commit: 0 }, run(1, 5, 1)).then(() => done.push(1)),
      s.save(null, run(6, 8, 1)).then(() => done.push(2)),
      s.save({ term: 2, vote: null, commit: 3 }, run(5, 9, 2)).then(() => done.push(3)),
      s.save({ term: 2, vote: 'n1', commit: 4 }, []).then(() => done.push(4)),
    ]);
    expect(done).toEqual([1, 2, 3, 4]);
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(shape(st.entries)).toBe('1/1 2/1 3/1 4/1 5/2 6/2 7/2 8/2 9/2');
    expect(st.hardState).toEqual({ term: 2, vote: 'n1', commit: 4 });
  });

  it('refuses entries that are not consecutive, leave a gap or go below the snapshot, and keeps working', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 3, 1));
    const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: StorageError) => e.code);
    expect(await code(s.save(null, run(5, 6, 1)))).toBe('invalid');
    expect(await code(s.save(null, [makeEntry(4, 1), makeEntry(6, 1)]))).toBe('invalid');
    expect(await code(s.save({ term: -1, vote: null, commit: 0 }, []))).toBe('invalid');
    await writeSnapshot(s, 2, 1, 0);
    expect(await code(s.save(null, run(2, 4, 2)))).toBe('invalid');
    await s.save(null, run(4, 4, 1));
    expect(shape(await s.readEntries(3, 4))).toBe('3/1 4/1');
    await expect(s.readEntries(2, 4)).rejects.toThrow(StorageError);
    await expect(s.readEntries(3, 5)).rejects.toThrow(StorageError);
  });

  it('snapshot at an entry of the same term (compaction): keeps the entries after it', async () => {
    await s.open(INITIAL);
    await s.save({ term: 2, vote: null, commit: 8 }, [...run(1, 5, 1), ...run(6, 10, 2)]);
    const meta = await writeSnapshot(s, 7, 2, 5000);
    expect(s.snapshotMeta()).toEqual(meta);
    expect(s.firstIndex()).toBe(8);
    expect(s.lastIndex()).toBe(10);
    expect(shape(await s.readEntries(8, 10))).toBe('8/2 9/2 10/2');
    expect(Buffer.from(await s.readSnapshot(4990, 100))).toEqual(Buffer.from(snapshotBytes(7, 2, 4990, 10)));
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(st.snapshot).toEqual(meta);
    expect(shape(st.entries)).toBe('8/2 9/2 10/2');
    expect(Buffer.from(await readAll(s))).toEqual(Buffer.from(snapshotBytes(7, 2, 0, 5000)));
  });

  it('snapshot whose term differs from the stored entry at its index: drops every stored entry', async () => {
    await s.open(INITIAL);
    await s.save({ term: 2, vote: null, commit: 3 }, [...run(1, 5, 1), ...run(6, 10, 2)]);
    await writeSnapshot(s, 8, 3, 100);
    expect(s.lastIndex()).toBe(8);
    expect(s.firstIndex()).toBe(9);
    await s.save({ term: 3, vote: null, commit: 8 }, run(9, 9, 3));
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(st.snapshot.index).toBe(8);
    expect(shape(st.entries)).toBe('9/3');
  });

  it('snapshot beyond the stored log: drops every stored entry', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 3, 1));
    await writeSnapshot(s, 20, 4, 10);
    expect(s.lastIndex()).toBe(20);
    s = await h.restart(s);
    const st = await s.open(INITIAL);
    expect(st.snapshot.index).toBe(20);
    expect(st.entries).toEqual([]);
  });

  it('discards a snapshot that is not newer than the current one', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 10, 1));
    await writeSnapshot(s, 6, 1, 10);
    await writeSnapshot(s, 4, 1, 20);
    expect(s.snapshotMeta().index).toBe(6);
    expect(s.lastIndex()).toBe(10);
    s = await h.restart(s);
    expect((await s.open(INITIAL)).snapshot.index).toBe(6);
  });

  it('writes snapshot chunks in order only, and commits only a complete snapshot', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 5, 1));
    const w = s.beginSnapshot({ index: 4, term: 1, conf: CONF, size: 100 });
    await expect(w.write(10, new Uint8Array(10))).rejects.toMatchObject({ code: 'invalid' });
    await w.write(0, snapshotBytes(4, 1, 0, 60));
    await expect(w.write(50, new Uint8Array(60))).rejects.toMatchObject({ code: 'invalid' });
    await expect(w.commit()).rejects.toMatchObject({ code: 'invalid' });
    // A chunk sent again (the leader resends from the acknowledged offset) is fine.
    await w.write(30, snapshotBytes(4, 1, 30, 40));
    await w.write(70, snapshotBytes(4, 1, 70, 30));
    await w.commit();
    expect(Buffer.from(await s.readSnapshot(0, 1000))).toEqual(Buffer.from(snapshotBytes(4, 1, 0, 100)));
    s = await h.restart(s);
    await s.open(INITIAL);
    expect(Buffer.from(await readAll(s, 7))).toEqual(Buffer.from(snapshotBytes(4, 1, 0, 100)));
  });

  it('forgets an aborted snapshot', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 5, 1));
    const w = s.beginSnapshot({ index: 4, term: 1, conf: CONF, size: 10 });
    await w.write(0, new Uint8Array(5));
    await w.abort();
    await expect(w.write(5, new Uint8Array(5))).rejects.toThrow(StorageError);
    expect(s.snapshotMeta().index).toBe(0);
    expect(s.lastIndex()).toBe(5);
    s = await h.restart(s);
    expect((await s.open(INITIAL)).snapshot.index).toBe(0);
  });

  it('reads the snapshot at offsets and streams it in chunks', async () => {
    await s.open(INITIAL);
    await s.save(null, run(1, 3, 1));
    await writeSnapshot(s, 3, 1, 10_000, 4096);
    expect((await s.readSnapshot(9_990, 100)).length).toBe(10);
    expect((await s.readSnapshot(10_000, 100)).length).toBe(0);
    await expect(s.readSnapshot(10_001, 1)).rejects.toThrow(StorageError);
    const sizes: number[] = [];
    for await (const c of s.snapshotChunks(3000)) sizes.push(c.length);
    expect(sizes).toEqual([3000, 3000, 3000, 1000]);
  });

  it('refuses to save after close', async () => {
    await s.open(INITIAL);
    await s.close();
    await expect(s.save(null, run(1, 1, 1))).rejects.toMatchObject({ code: 'closed' });
  });
});
