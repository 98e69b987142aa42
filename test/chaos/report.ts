/**
 * The chaos run's output: a readable summary (operations by kind and outcome, faults by kind,
 * verdicts, availability during each kind of fault), the same as JSON, the raw history, and an HTML
 * page with an inline SVG timeline of operations and faults (like Jepsen's).
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { Verdict } from './checks';
import type { Fault, Op } from './history';

export interface Availability {
  kind: string;
  count: number;
  /** Longest time without a definite write answer, from the fault's start to 5 s after its heal. */
  medianMs: number;
  worstMs: number;
  /** From the heal to the first definite write answer that was invoked after the heal. */
  recoveryMedianMs: number;
  recoveryWorstMs: number;
}

export interface RunSummary {
  seed: number;
  minutes: number;
  dir: string;
  startedAt: string;
  durationMs: number;
  ops: Record<string, Record<string, number>>;
  totalOps: number;
  faults: Record<string, number>;
  faultProblems: string[];
  availability: Availability[];
  verdicts: Verdict[];
  recovery: { healToLiveMs: number; liveToLeaderMs: number | null; liveToWritesMs: number | null; perNode: Record<string, number | null> };
  notes: string[];
  ok: boolean;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

const WRITE_KINDS = new Set(['put', 'order', 'cancel']);

function definiteWrite(o: Op): boolean {
  return WRITE_KINDS.has(o.kind) && o.complete !== null && (o.outcome === 'ok' || (o.outcome === 'fail' && o.lastStatus >= 400 && o.lastStatus < 500));
}

export function availability(ops: readonly Op[], faults: readonly Fault[]): Availability[] {
  const done = ops.filter(definiteWrite).sort((a, b) => (a.complete as number) - (b.complete as number));
  const completions = done.map((o) => o.complete as number);
  const byKind = new Map<string, { gaps: number[]; rec: number[] }>();
  for (const f of faults) {
    const from = f.start;
    const to = f.end + 5000;
    let prev = from;
    let gap = 0;
    for (const t of completions) {
      if (t < from) continue;
      if (t > to) break;
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    gap = Math.max(gap, to - prev);
    const firstAfter = done.find((o) => o.invoke >= f.end);
    const rec = firstAfter === undefined ? to - f.end : Math.max(0, (firstAfter.complete as number) - f.end);
    const e = byKind.get(f.kind) ?? { gaps: [], rec: [] };
    e.gaps.push(gap);
    e.rec.push(rec);
    byKind.set(f.kind, e);
  }
  return [...byKind.entries()]
    .map(([kind, e]) => ({
      kind,
      count: e.gaps.length,
      medianMs: Math.round(median(e.gaps)),
      worstMs: Math.round(e.gaps.reduce((a, b) => Math.max(a, b), 0)),
      recoveryMedianMs: Math.round(median(e.rec)),
      recoveryWorstMs: Math.round(e.rec.reduce((a, b) => Math.max(a, b), 0)),
    }))
    .sort((a, b) => a.kind.localeCompare(b.kind));
}

export function opCounts(ops: readonly Op[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const o of ops) {
    const k = (out[o.kind] ??= { ok: 0, fail: 0, unknown: 0 });
    k[o.outcome]++;
  }
  return out;
}

export function summaryText(s: RunSummary): string {
  const lines: string[] = [];
  lines.push(`chaos run: seed ${s.seed}, ${s.minutes} min of faults, ${(s.durationMs / 1000).toFixed(0)} s in all, results in ${s.dir}`);
  lines.push('');
  lines.push(`operations: ${s.totalOps}`);
  for (const [kind, c] of Object.entries(s.ops)) lines.push(`  ${kind.padEnd(11)} ok ${String(c.ok).padStart(6)}  fail ${String(c.fail).padStart(6)}  unknown ${String(c.unknown).padStart(5)}`);
  lines.push('');
  lines.push(`faults: ${Object.values(s.faults).reduce((a, b) => a + b, 0)}`);
  for (const [kind, n] of Object.entries(s.faults)) lines.push(`  ${kind.padEnd(24)} ${n}`);
  if (s.faultProblems.length > 0) {
    lines.push('  problems while injecting:');
    for (const p of s.faultProblems) lines.push(`    - ${p}`);
  }
  lines.push('');
  lines.push('availability of order writes per fault kind (longest time without a definite write answer, fault start to heal + 5 s; recovery = heal to first answer of a write invoked after it):');
  lines.push(`  ${'kind'.padEnd(24)} ${'n'.padStart(3)} ${'median'.padStart(8)} ${'worst'.padStart(8)}   ${'recovery med'.padStart(12)} ${'worst'.padStart(8)}`);
  for (const a of s.availability) {
    lines.push(`  ${a.kind.padEnd(24)} ${String(a.count).padStart(3)} ${`${a.medianMs}ms`.padStart(8)} ${`${a.worstMs}ms`.padStart(8)}   ${`${a.recoveryMedianMs}ms`.padStart(12)} ${`${a.recoveryWorstMs}ms`.padStart(8)}`);
  }
  lines.push('');
  const r = s.recovery;
  lines.push(
    `final heal: processes answering /health/live ${r.healToLiveMs} ms after the heal; then a leader in ${r.liveToLeaderMs ?? 'never'} ms, a write through every node in ${r.liveToWritesMs ?? 'never'} ms (${Object.entries(r.perNode)
      .map(([k, v]) => `${k} ${v ?? 'never'}`)
      .join(', ')})`,
  );
  lines.push('');
  lines.push('verdicts:');
  for (const v of s.verdicts) {
    lines.push(`  ${v.ok ? 'PASS' : 'FAIL'}  ${v.name}: ${v.summary}`);
    for (const p of v.problems) lines.push(`        ${p.split('\n').join('\n        ')}`);
  }
  if (s.notes.length > 0) {
    lines.push('');
    lines.push('notes:');
    for (const n of s.notes) lines.push(`  - ${n}`);
  }
  lines.push('');
  lines.push(s.ok ? 'RESULT: PASS' : 'RESULT: FAIL');
  return lines.join('\n');
}

const COLORS: Record<string, string> = { ok: '#3a3', fail: '#d80', unknown: '#c33' };
const FAULT_COLORS = ['#f4cccc', '#d9ead3', '#cfe2f3', '#fff2cc', '#d9d2e9', '#fce5cd', '#d0e0e3', '#ead1dc'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One row per client, a bar per operation (colour = outcome), fault intervals shaded behind. */
export function timelineHtml(s: RunSummary, ops: readonly Op[], faults: readonly Fault[]): string {
  // A loop, not Math.max(...ops): a long run has far more operations than the call stack takes arguments.
  let end = s.durationMs;
  for (const o of ops) end = Math.max(end, o.complete ?? o.invoke);
  const clients = [...new Set(ops.map((o) => o.client))].sort((a, b) => a - b);
  const row = new Map(clients.map((c, i) => [c, i]));
  const W = 1800;
  const rowH = 14;
  const top = 40;
  const H = top + clients.length * rowH + 20;
  const x = (t: number): number => (t / end) * W;
  const kinds = [...new Set(faults.map((f) => f.kind))];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W + 120}" height="${H}" font-family="sans-serif" font-size="10">`);
  parts.push(`<g transform="translate(110,0)">`);
  for (const f of faults) {
    const c = FAULT_COLORS[kinds.indexOf(f.kind) % FAULT_COLORS.length];
    parts.push(`<rect x="${x(f.start).toFixed(1)}" y="0" width="${Math.max(1, x(f.end) - x(f.start)).toFixed(1)}" height="${H}" fill="${c}"><title>${esc(`${f.kind} ${(f.start / 1000).toFixed(1)}-${(f.end / 1000).toFixed(1)} s: ${f.detail}${f.problems.length ? ' PROBLEMS: ' + f.problems.join('; ') : ''}`)}</title></rect>`);
    parts.push(`<text x="${x(f.start).toFixed(1)}" y="12" transform="rotate(0)">${esc(f.kind)}</text>`);
  }
  for (let t = 0; t <= end; t += 10_000) parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="20" y2="${H}" stroke="#ccc"/><text x="${x(t) + 2}" y="30">${t / 1000}s</text>`);
  for (const c of clients) parts.push(`<text x="-105" y="${top + row.get(c)! * rowH + 10}">client ${c}</text>`);
  for (const o of ops) {
    const y = top + row.get(o.client)! * rowH + 2;
    const x1 = x(o.invoke);
    const x2 = o.complete === null ? x(Math.min(end, o.invoke + 8000)) : x(o.complete);
    const title = `#${o.id} ${o.kind} ${o.product ?? o.msgId ?? ''} ${o.value ?? ''} -> ${o.outcome}${o.error ? ' ' + o.error : ''}${o.read ? ' ' + JSON.stringify(o.read) : ''} [${o.invoke.toFixed(1)}, ${o.complete?.toFixed(1) ?? '?'}] host ${o.host} tried ${o.tried.join(',')}`;
    parts.push(`<rect x="${x1.toFixed(1)}" y="${y}" width="${Math.max(0.8, x2 - x1).toFixed(1)}" height="${rowH - 4}" fill="${COLORS[o.outcome]}"${o.complete === null ? ' fill-opacity="0.35"' : ''}><title>${esc(title)}</title></rect>`);
  }
  parts.push('</g></svg>');
  const verdicts = s.verdicts.map((v) => `<li style="color:${v.ok ? '#282' : '#c00'}"><b>${v.ok ? 'PASS' : 'FAIL'}</b> ${esc(v.name)}: ${esc(v.summary)}${v.problems.length ? `<pre>${esc(v.problems.join('\n'))}</pre>` : ''}</li>`).join('\n');
  const faultRows = faults
    .map((f) => `<tr><td>${(f.start / 1000).toFixed(1)}</td><td>${(f.end / 1000).toFixed(1)}</td><td>${esc(f.kind)}</td><td>${esc(f.detail)}</td><td>${esc(f.problems.join('; '))}</td></tr>`)
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>chaos seed ${s.seed}</title>
<style>body{font-family:sans-serif;margin:16px} pre{white-space:pre-wrap;font-size:11px} table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ccc;padding:2px 6px} .svg{overflow-x:auto;border:1px solid #ddd}</style></head><body>
<h1>Chaos run, seed ${s.seed}: ${s.ok ? 'PASS' : 'FAIL'}</h1>
<p>${s.totalOps} operations, ${faults.length} faults, ${s.minutes} min of faults. Bars: one per operation, green ok, orange refused (definite), red unknown (faded: never answered). Shaded: faults (hover for details).</p>
<h2>Verdicts</h2><ul>${verdicts}</ul>
<h2>Timeline</h2><div class="svg">${parts.join('\n')}</div>
<h2>Faults</h2><table><tr><th>start s</th><th>end s</th><th>kind</th><th>detail</th><th>problems</th></tr>${faultRows}</table>
<h2>Summary</h2><pre>${esc(summaryText(s))}</pre>
</body></html>`;
}

/** Writes the summary first, so that a problem with the bulkier files never loses the verdicts. */
export function writeReport(dir: string, s: RunSummary, ops: readonly Op[], faults: readonly Fault[]): void {
  writeFileSync(path.join(dir, 'summary.txt'), summaryText(s) + '\n');
  writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(s, null, 2));
  writeFileSync(path.join(dir, 'faults.json'), JSON.stringify(faults, null, 2));
  const fd = openSync(path.join(dir, 'history.jsonl'), 'w');
  try {
    for (let i = 0; i < ops.length; i += 1000) writeSync(fd, ops.slice(i, i + 1000).map((o) => JSON.stringify(o) + '\n').join(''));
  } finally {
    closeSync(fd);
  }
  try {
    writeFileSync(path.join(dir, 'timeline.html'), timelineHtml(s, ops, faults));
  } catch (err) {
    writeFileSync(path.join(dir, 'timeline.html'), `<p>timeline not rendered: ${esc(String(err))}</p>`);
  }
}
