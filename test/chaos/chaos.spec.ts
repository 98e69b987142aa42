/**
 * The CI-sized chaos run: 2 minutes of faults against the order and chat apps on network-namespace
 * hosts, then healing and every verdict (see chaos.ts). Needs root (network namespaces, iptables):
 * without them it FAILS with the reason, it does not skip. CHAOS_SEED and CHAOS_MINUTES override the
 * seed and length; the report is under chaos-results/.
 */
import { runChaos } from './chaos';

const MINUTES = Number(process.env.CHAOS_MINUTES ?? 2);
const SEED = Number(process.env.CHAOS_SEED ?? 8);

jest.setTimeout((MINUTES * 60 + 240) * 1000);

describe('chaos: order and chat apps on real hosts under faults', () => {
  it(`${MINUTES} min of faults, seed ${SEED}: every verdict passes`, async () => {
    const lines: string[] = [];
    const result = await runChaos({ minutes: MINUTES, seed: SEED, log: (l) => lines.push(l) });
    // The summary goes to the output either way: figures for a pass, evidence for a failure.
    console.log(result.text);
    const s = result.summary;
    const faults = Object.values(s.faults).reduce((a, b) => a + b, 0);
    // A run that injected little or recorded little proves little.
    expect(faults).toBeGreaterThanOrEqual(Math.floor(MINUTES * 5));
    expect(s.totalOps).toBeGreaterThan(MINUTES * 1000);
    const failed = s.verdicts.filter((v) => !v.ok).map((v) => `${v.name}: ${v.summary}\n${v.problems.join('\n')}`);
    if (failed.length > 0) throw new Error(`chaos seed ${SEED} failed (report: ${result.dir}):\n${failed.join('\n\n')}`);
    expect(result.ok).toBe(true);
  });
});
