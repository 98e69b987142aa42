/*
 * Damage done to a closed data directory, and what opening it must do. The documented outcomes:
 *
 * - a record the crash interrupted at the very tail of the last segment (file ends inside it, or
 *   zeros follow) is cut off, with a warning saying how many bytes at which offset; every record
 *   before it is kept;
 * - anything else (a bad checksum anywhere, also in the last segment's last record; a damaged length;
 *   a gap in indexes; a segment cut short that is not the last; a missing segment, first, middle or
 *   last; a damaged or missing snapshot) stops the open with StorageError code 'corrupt', naming the
 *   file and the byte offset;
 * - a segment the snapshot wholly covers may go missing without harm (it would have been deleted).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileStorage, StorageError } from '../../src/storage';
import { decodeRecord, putEntry, segmentName, WalRecord } from '../../src/storage/record';
import { INITIAL, makeEntry, runOp } from './workload';

let tmp: string;
let n = 0;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-corrupt-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const LAST = 150;

/** A closed directory holding entries 1..150 (term 1) in several 2 KiB segments. */
async function build(snapshotAt = 0): Promise<string> {
  const dir = path.join(tmp, `d${++n}`);
  const s = new FileStorage(dir, { segmentBytes: 2048, logger: { info: () => undefined, warn: () => undefined } });
  await s.open(INITIAL);
  for (let i = 1; i <= LAST; i += 5) {
    const entries = [];
    for (let k = i; k < i + 5; k++) entries.push(makeEntry(k, 1));
    await s.save({ term: 1, vote: 'n1', commit: i - 1 }, entries);
  }
  if (snapshotAt > 0) await runOp(s, { kind: 'snap', index: snapshotAt, term: 1, size: 100 });
  await s.close();
  return dir;
}

function segs(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('wal-')).sort();
}

/** The records of a segment file with their offsets. */
function records(file: string): { at: number; end: number; rec: WalRecord }[] {
  const buf = fs.readFileSync(file);
  const out: { at: number; end: number; rec: WalRecord }[] = [];
  for (let at = 0; at < buf.length; ) {
    const r = decodeRecord(buf, at);
    if (!r.ok) throw new Error(`unexpected bad record at ${at}`);
    out.push({ at, end: r.end, rec: r.record });
    at = r.end;
  }
  return out;
}

function entryRecords(file: string): { at: number; end: number; index: number }[] {
  return records(file).flatMap((r) => (r.rec.type === 'entry' ? [{ at: r.at, end: r.end, index: r.rec.entry.index }] : []));
}

function flip(file: string, offset: number): void {
  const buf = fs.readFileSync(file);
  buf[offset] ^= 0x40;
  fs.writeFileSync(file, buf);
}

async function openDir(dir: string): Promise<{ err: StorageError | null; entries: number; warnings: string[] }> {
  const warnings: string[] = [];
  const s = new FileStorage(dir, { logger: { info: () => undefined, warn: (m) => warnings.push(m) } });
  try {
    const st = await s.open(INITIAL);
    await s.close();
    return { err: null, entries: st.entries.length === 0 ? st.snapshot.index : st.entries[st.entries.length - 1].index, warnings };
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    return { err, entries: -1, warnings };
  }
}

describe('corruption and damage found on open', () => {
  it('builds several segments to damage', async () => {
    const dir = await build();
    expect(segs(dir).length).toBeGreaterThanOrEqual(5);
    expect((await openDir(dir)).entries).toBe(LAST);
  });

  it('a byte flipped in the middle of a segment that is not the last: error naming the file and offset', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir)[1]);
    const victim = entryRecords(file)[3];
    flip(file, Math.floor((victim.at + victim.end) / 2));
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: victim.at });
    expect(err!.message).toContain(`${file} at byte offset ${victim.at}: record checksum mismatch`);
  });

  it('a byte flipped in the middle of the last segment: error, not a cut', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const rs = entryRecords(file);
    const victim = rs[Math.floor(rs.length / 2)];
    flip(file, victim.end - 5);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: victim.at });
  });

  it('a byte flipped in the last record of the last segment: error, not a cut (it was complete)', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const victim = entryRecords(file).at(-1)!;
    flip(file, victim.end - 1);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: victim.at });
  });

  it('a damaged record length in the last segment: error (the header checksum tells it from a torn write)', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const victim = entryRecords(file)[1];
    flip(file, victim.at + 2);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: victim.at });
    expect(err!.message).toMatch(/header checksum/);
  });

  it('the last segment truncated in the middle of a record: the torn record is cut off with a warning, the rest kept', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const victim = entryRecords(file).at(-2)!;
    fs.truncateSync(file, victim.at + 17);
    const { err, entries, warnings } = await openDir(dir);
    expect(err).toBeNull();
    expect(entries).toBe(victim.index - 1);
    expect(warnings.join('\n')).toContain(`${file}: cut off 17 bytes at byte offset ${victim.at} (record cut short by the end of the file)`);
    expect(fs.statSync(file).size).toBe(victim.at);
    // The cut is durable and clean: the next open has nothing to say.
    const again = await openDir(dir);
    expect(again).toMatchObject({ err: null, entries: victim.index - 1, warnings: [] });
  });

  it('the last segment truncated inside a record header: cut off', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const victim = entryRecords(file).at(-1)!;
    fs.truncateSync(file, victim.at + 5);
    const { err, entries, warnings } = await openDir(dir);
    expect(err).toBeNull();
    expect(entries).toBe(victim.index - 1);
    expect(warnings.join('\n')).toMatch(/cut off 5 bytes .*less than a record header/);
  });

  it('zeros after the last record (space allocated, data never written): cut off', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    fs.appendFileSync(file, Buffer.alloc(4096));
    const { err, entries, warnings } = await openDir(dir);
    expect(err).toBeNull();
    expect(entries).toBe(LAST);
    expect(warnings.join('\n')).toMatch(/cut off 4096 bytes .*zero-filled tail/);
  });

  it('a segment that is not the last truncated in the middle of a record: error naming the file and offset', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir)[2]);
    const victim = entryRecords(file)[2];
    fs.truncateSync(file, victim.at + 20);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: victim.at });
    expect(err!.message).toMatch(/ends in the middle of a record/);
  });

  it('a segment that is not the last truncated at a record boundary (seal lost): error', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir)[1]);
    const rs = records(file);
    fs.truncateSync(file, rs.at(-1)!.at);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: rs.at(-1)!.at });
    expect(err!.message).toMatch(/without its seal/);
  });

  it('a middle segment deleted: error naming the missing segment', async () => {
    const dir = await build();
    const names = segs(dir);
    fs.unlinkSync(path.join(dir, names[2]));
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file: path.join(dir, names[3]), offset: 0 });
    expect(err!.message).toContain(`the segment before it, ${names[2]}, is missing`);
  });

  it('the last segment deleted: error (the one before it is sealed)', async () => {
    const dir = await build();
    const names = segs(dir);
    fs.unlinkSync(path.join(dir, names.at(-1)!));
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file: path.join(dir, names.at(-2)!) });
    expect(err!.message).toContain(`sealed but the segment after it, ${names.at(-1)}, is missing`);
  });

  it('the first segment deleted while its entries are needed: error', async () => {
    const dir = await build();
    const names = segs(dir);
    fs.unlinkSync(path.join(dir, names[0]));
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file: path.join(dir, names[1]), offset: 0 });
    expect(err!.message).toContain(`the segment before it (${segmentName(1)}) is missing`);
  });

  it('segments the snapshot wholly covers: deleted after the snapshot, and if one comes back (its deletion never reached the disk) it is ignored and deleted again', async () => {
    // Snapshot at 140: every segment before the newest one that began at or before entry 140 is covered.
    const dir = await build();
    const names = segs(dir);
    const keep = fs.readFileSync(path.join(dir, names[0]));
    const s = new FileStorage(dir, { logger: { info: () => undefined, warn: () => undefined } });
    await s.open(INITIAL);
    await runOp(s, { kind: 'snap', index: 140, term: 1, size: 10 });
    await s.close();
    expect(segs(dir)).not.toContain(names[0]);
    fs.writeFileSync(path.join(dir, names[0]), keep); // a deletion that did not reach the disk
    const { err, entries } = await openDir(dir);
    expect(err).toBeNull();
    expect(entries).toBe(LAST);
    expect(segs(dir)).not.toContain(names[0]);
  });

  it('a gap in the indexes: error naming the file and offset', async () => {
    const dir = await build();
    const file = path.join(dir, segs(dir).at(-1)!);
    const size = fs.statSync(file).size;
    const buf = Buffer.alloc(300);
    const end = putEntry(buf, 0, makeEntry(LAST + 2, 1));
    fs.appendFileSync(file, buf.subarray(0, end));
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', file, offset: size });
    expect(err!.message).toContain(`gap in the log: entry ${LAST + 2} follows entry ${LAST}`);
  });

  it('two segments swapped: error (headers do not match their names)', async () => {
    const dir = await build();
    const [a, b] = segs(dir).slice(1, 3).map((f) => path.join(dir, f));
    fs.renameSync(a, `${a}.x`);
    fs.renameSync(b, a);
    fs.renameSync(`${a}.x`, b);
    const { err } = await openDir(dir);
    expect(err).toMatchObject({ code: 'corrupt', offset: 0 });
    expect(err!.message).toMatch(/header says segment/);
  });

  describe('snapshot file', () => {
    const snapFile = (dir: string): string => path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.snap'))!);

    it('a byte flipped in its data: error naming it', async () => {
      const dir = await build(100);
      const file = snapFile(dir);
      flip(file, 50);
      const { err } = await openDir(dir);
      expect(err).toMatchObject({ code: 'corrupt', file });
      expect(err!.message).toMatch(/data checksum mismatch/);
    });

    it('truncated: error naming it', async () => {
      const dir = await build(100);
      const file = snapFile(dir);
      fs.truncateSync(file, fs.statSync(file).size - 3);
      expect((await openDir(dir)).err).toMatchObject({ code: 'corrupt', file });
    });

    it('deleted: error (the WAL records a newer snapshot than any file)', async () => {
      const dir = await build(100);
      fs.unlinkSync(snapFile(dir));
      const { err } = await openDir(dir);
      expect(err).toMatchObject({ code: 'corrupt' });
      expect(err!.message).toMatch(/no snapshot file/);
    });
  });
});
