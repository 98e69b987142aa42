import { writeFileSync } from 'node:fs';
import type { CompareResult, CompareSummary, RatioRow, SummaryRow, SystemRun } from './types';

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const RATIO_PAIRS: [string, string][] = [
  ['ours-leader', 'etcd-gateway'],
  ['ours-leader', 'etcd-grpc'],
  ['ours-follower', 'etcd-gateway-follower'],
  ['ours-raw-leader', 'etcd-gateway'],
];

export function summarise(runs: SystemRun[], levels: number[]): CompareSummary {
  const all = runs.flatMap((r) => r.rows);
  const paths = [...new Set(all.map((r) => r.path))];
  const rows: SummaryRow[] = [];
  for (const p of paths) {
    for (const c of levels) {
      const rs = all.filter((r) => r.path === p && r.concurrency === c);
      if (rs.length === 0) continue;
      rows.push({
        path: p,
        concurrency: c,
        rounds: rs.length,
        throughput: median(rs.map((r) => r.throughput)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        failed: rs.reduce((a, r) => a + r.failed, 0),
        cpuMsPerPut: {
          leader: median(rs.map((r) => r.cpuMsPerPut?.leader ?? NaN)),
          follower: median(rs.map((r) => (r.cpuMsPerPut ? r.cpuMsPerPut.followers.reduce((a, b) => a + b, 0) / Math.max(1, r.cpuMsPerPut.followers.length) : NaN))),
          client: median(rs.map((r) => r.cpuMsPerPut?.client ?? NaN)),
          cluster: median(rs.map((r) => r.cpuMsPerPut?.cluster ?? NaN)),
        },
        perRound: rs.map((r) => ({ round: r.round, throughput: r.throughput, p50: r.p50, p99: r.p99, failed: r.failed })),
      });
    }
  }
  const ratios: RatioRow[] = [];
  for (const [ours, etcd] of RATIO_PAIRS) {
    for (const c of levels) {
      const perRound: RatioRow['perRound'] = [];
      for (const o of all.filter((r) => r.path === ours && r.concurrency === c)) {
        const e = all.find((r) => r.path === etcd && r.concurrency === c && r.round === o.round);
        if (e !== undefined) perRound.push({ round: o.round, throughput: o.throughput / e.throughput, p50: o.p50 / e.p50, p99: o.p99 / e.p99 });
      }
      if (perRound.length === 0) continue;
      ratios.push({
        concurrency: c,
        ours,
        etcd,
        throughput: median(perRound.map((x) => x.throughput)),
        p50: median(perRound.map((x) => x.p50)),
        p99: median(perRound.map((x) => x.p99)),
        perRound,
      });
    }
  }
  return { rows, ratios };
}

const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) : '-');

export function markdown(r: CompareResult): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `${r.dev ? '**DEV RUN (short, busy machine): not a result.** ' : ''}raft-cqrs vs etcd ${m.etcd}, 3 members each on one ${m.nproc}-CPU machine (loopback, fsync on, data on the same disk), ` +
      `node ${m.node}; ${r.settings.seconds} s per row after ${r.settings.warmup} s warm-up, closed loop, ${r.settings.valueBytes}-byte values, distinct keys; ` +
      `median of ${r.settings.rounds} alternating round(s). Load average at start ${m.loadAverageAtStart.join(' ')}, at end ${m.loadAverageAtEnd.join(' ')}.`,
  );
  lines.push('');
  if (r.summary.rows.length > 0) {
    lines.push(
      '| path | concurrency | puts/s | p50 ms | p99 ms | failed | CPU ms/put: cluster | leader | each follower | load generator |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const f3 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(3) : '-');
    for (const x of r.summary.rows) {
      const cpu = x.cpuMsPerPut;
      lines.push(`| ${x.path} | ${x.concurrency} | ${f0(x.throughput)} | ${f2(x.p50)} | ${f2(x.p99)} | ${x.failed} | ${f3(cpu?.cluster)} | ${f3(cpu?.leader)} | ${f3(cpu?.follower)} | ${f3(cpu?.client)} |`);
    }
    lines.push('', 'CPU from /proc (user + system) of each member over the row, warm-up included, per acknowledged put; the load generator is the benchmark process.', '');
  }
  if (r.summary.ratios.length > 0) {
    lines.push('| ours / etcd | concurrency | throughput x | p50 x | p99 x |', '|---|---:|---:|---:|---:|');
    for (const x of r.summary.ratios) lines.push(`| ${x.ours} / ${x.etcd} | ${x.concurrency} | ${f2(x.throughput)} | ${f2(x.p50)} | ${f2(x.p99)} |`);
    lines.push('', '(throughput x above 1 and latency x below 1 favour ours)', '');
  }
  if (r.failover.length > 0) {
    lines.push('| failover (SIGKILL the leader) | kills | p50 ms | p99 ms | min ms | max ms |', '|---|---:|---:|---:|---:|---:|');
    for (const x of r.failover) lines.push(`| ${x.label} | ${x.times.length} | ${f0(x.p50)} | ${f0(x.p99)} | ${f0(x.min)} | ${f0(x.max)} |`);
    lines.push('', `Time from the leader's exit to the first acknowledged write by a client trying the survivors (a new attempt every ${r.settings.attemptIntervalMs} ms, alternating survivors, each allowed ${r.settings.attemptTimeoutMs} ms; etcd through its JSON gateway).`, '');
  }
  const loads = r.runs.map((x) => `round ${x.round + 1} ${x.system}: ${x.loadBefore[0]} -> ${x.loadAfter[0]}`);
  if (loads.length > 0) lines.push(`Load average (1 min) before -> after each system's run: ${loads.join('; ')}.`, '');
  return lines.join('\n');
}

const COLORS: Record<string, string> = {
  'ours-leader': '#1f77b4',
  'ours-follower': '#6baed6',
  'etcd-gateway': '#d62728',
  'etcd-gateway-follower': '#ff9896',
  'etcd-grpc': '#2ca02c',
  'ours-raw-leader': '#9467bd',
  'ours-raw-follower': '#c5b0d5',
};
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

/** A line chart over categorical x (the concurrency levels), linear or log y. */
function lineChart(title: string, yLabel: string, xs: number[], series: Series[], log: boolean): string {
  const W = 520;
  const H = 330;
  const L = 64;
  const R = 16;
  const T = 34;
  const B = 46;
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && y > 0);
  let lo = log ? Math.pow(10, Math.floor(Math.log10(Math.min(...ys, 1)))) : 0;
  let hi = log ? Math.pow(10, Math.ceil(Math.log10(Math.max(...ys, 1)))) : Math.max(...ys, 1) * 1.1;
  if (!(hi > lo)) [lo, hi] = [0, 1];
  const px = (i: number): number => L + ((i + 0.5) * (W - L - R)) / xs.length;
  const py = (y: number): number => (log ? T + (H - T - B) * (1 - (Math.log10(y) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) : T + (H - T - B) * (1 - (y - lo) / (hi - lo)));
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  const ticks: number[] = [];
  if (log) for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  else {
    const step = Math.pow(10, Math.floor(Math.log10(hi / 5)));
    const nice = [1, 2, 5].map((k) => k * step).find((s) => hi / s <= 8) ?? step * 10;
    for (let v = 0; v <= hi; v += nice) ticks.push(v);
  }
  for (const v of ticks) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1000 ? `${v / 1000}k` : v}</text>`);
  }
  xs.forEach((x, i) => out.push(`<text x="${px(i).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${x}</text>`));
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">concurrency (closed-loop clients)</text>`);
  out.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]) && p[1] > 0).map(([x, y]) => `${px(xs.indexOf(x)).toFixed(1)},${py(y).toFixed(1)}`);
    if (pts.length === 0) continue;
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    for (const p of pts) out.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3.5" fill="${s.color}"/>`);
  }
  out.push('</svg>');
  return out.join('');
}

function failoverChart(r: CompareResult): string {
  const W = 520;
  const rowH = 54;
  const L = 150;
  const R = 20;
  const T = 34;
  const H = T + rowH * r.failover.length + 40;
  const maxMs = Math.max(...r.failover.flatMap((f) => f.times), 1);
  const hi = Math.ceil(maxMs / 500) * 500;
  const px = (ms: number): number => L + ((W - L - R) * ms) / hi;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Failover: SIGKILL leader to first write (ms)</text>`);
  for (let v = 0; v <= hi; v += hi / 5) {
    out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${T}" y2="${H - 40}" stroke="#ddd"/><text x="${px(v)}" y="${H - 24}" text-anchor="middle">${v}</text>`);
  }
  r.failover.forEach((f, i) => {
    const y = T + i * rowH + rowH / 2;
    const color = f.system === 'ours' ? '#1f77b4' : f.system === 'etcd-default' ? '#d62728' : '#ff7f0e';
    out.push(`<text x="${L - 8}" y="${y + 4}" text-anchor="end">${esc(f.system)}</text>`);
    for (const t of f.times) out.push(`<circle cx="${px(t).toFixed(1)}" cy="${y}" r="4" fill="${color}" fill-opacity="0.45"/>`);
    out.push(`<line x1="${px(f.p50)}" x2="${px(f.p50)}" y1="${y - 14}" y2="${y + 14}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${px(f.p50) + 4}" y="${y - 16}" fill="${color}">p50 ${f0(f.p50)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

export function chartHtml(r: CompareResult): string {
  const xs = r.settings.concurrency;
  const paths = [...new Set(r.summary.rows.map((x) => x.path))];
  const pts = (p: string, k: 'throughput' | 'p50' | 'p99'): [number, number][] => r.summary.rows.filter((x) => x.path === p).map((x) => [x.concurrency, x[k]]);
  const thr = paths.map((p) => ({ name: p, color: COLORS[p] ?? '#555', points: pts(p, 'throughput') }));
  const p50 = paths.map((p) => ({ name: p, color: COLORS[p] ?? '#555', points: pts(p, 'p50') }));
  const p99 = paths.map((p) => ({ name: p, color: COLORS[p] ?? '#555', dash: '6 4', points: pts(p, 'p99') }));
  const legend = paths.map((p) => `<span style="display:inline-block;margin-right:14px"><span style="display:inline-block;width:18px;height:4px;background:${COLORS[p] ?? '#555'};vertical-align:middle"></span> ${esc(p)}</span>`).join('');
  const m = r.machine;
  return `<!doctype html><html><head><meta charset="utf-8"><title>raft-cqrs vs etcd</title>
<style>body{font-family:sans-serif;margin:16px;width:1080px;background:#fff}h1{font-size:18px;margin:0 0 4px}p{margin:4px 0;font-size:12px;color:#333}.g{display:flex;flex-wrap:wrap;gap:12px;margin-top:8px}</style></head><body>
<h1>raft-cqrs vs etcd ${esc(String(m.etcd))}: replicated puts, 3 members on one ${m.nproc}-CPU machine${r.dev ? ' (DEV RUN: short, busy machine, not a result)' : ''}</h1>
<p>${esc(r.startedAt)}; node ${esc(m.node)}; ${r.settings.seconds} s per point after ${r.settings.warmup} s warm-up; median of ${r.settings.rounds} alternating round(s); 100-byte values, distinct keys, keep-alive clients; fsync on. Load average at start ${m.loadAverageAtStart.join(' ')}, at end ${m.loadAverageAtEnd.join(' ')}.</p>
<p>${legend}</p>
<div class="g">${r.summary.rows.length > 0 ? lineChart('Throughput (puts/s)', 'puts/s', xs, thr, false) + lineChart('Latency p50 and p99 (ms, log)', 'ms (solid p50, dashed p99)', xs, [...p50, ...p99], true) : ''}${r.failover.length > 0 ? failoverChart(r) : ''}</div>
</body></html>`;
}

/** Writes `<base>.html` and screenshots it to `<base>.png` with the system Chromium. */
export async function renderChart(r: CompareResult, base: string): Promise<string> {
  const html = chartHtml(r);
  writeFileSync(`${base}.html`, html);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1120, height: 400 } });
    await page.setContent(html);
    await page.screenshot({ path: `${base}.png`, fullPage: true });
  } finally {
    await browser.close();
  }
  return `${base}.png`;
}
