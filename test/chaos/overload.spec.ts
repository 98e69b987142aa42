/**
 * Overload at ten times what the cluster sustains (measured first, in the same run): the nodes keep
 * answering /health/live and /cluster/status within a second, shed what they cannot take with 503 +
 * Retry-After (bounded queues: the answers they do give stay within a few seconds), nothing else
 * goes wrong (no 500, no reset connection), memory stays bounded, and throughput comes back once
 * the load is gone. The figures are printed either way.
 */
import { runOverload } from './overload';

jest.setTimeout(150_000);

const SECONDS = Number(process.env.OVERLOAD_SECONDS ?? 20);

describe('overload: 10x the sustainable throughput', () => {
  it(`for ${SECONDS} s: health answered, load shed with 503 + Retry-After, memory bounded, throughput back`, async () => {
    const f = await runOverload({ seconds: SECONDS, factor: 10, measureSeconds: 4, maxInFlight: 9000, log: () => undefined });
    console.log(`overload figures:\n${JSON.stringify(f, null, 2)}`);
    const problems: string[] = [];
    const other = Object.entries(f.statuses).filter(([k]) => k !== '200' && k !== '503');
    if (other.length > 0) problems.push(`answers other than 200 / 503: ${JSON.stringify(Object.fromEntries(other))}`);
    if (f.shed503WithoutRetryAfter > 0) problems.push(`${f.shed503WithoutRetryAfter} 503 answers without Retry-After`);
    if (f.probes.slow + f.probes.failed > 0) {
      problems.push(`${f.probes.slow} of ${f.probes.total} health/status probes took over 1 s and ${f.probes.failed} got no answer (worst ${f.probes.worstMs} ms): ${f.probes.examples.join('; ')}`);
    }
    if (f.shed503 === 0) problems.push(`no 503 at all at ${f.sentPerSecond}/s sent (${f.offeredPerSecond}/s offered, ${f.sustainable.perSecond}/s sustainable): the load was queued, not shed`);
    if (f.acceptedDuringOverload.p99Ms > 5000) problems.push(`accepted requests waited up to p99 ${f.acceptedDuringOverload.p99Ms} ms (p50 ${f.acceptedDuringOverload.p50Ms} ms): queues are not bounded in time`);
    for (const [id, mb] of Object.entries(f.peakRssMb)) if (mb > 512) problems.push(`${id} peak RSS ${mb} MB (before the load ${f.rssBeforeMb[id]} MB)`);
    if (f.after.perSecond < f.sustainable.perSecond * 0.5) problems.push(`throughput after the load ${f.after.perSecond}/s, under half of the ${f.sustainable.perSecond}/s before`);
    if (problems.length > 0) throw new Error(`overload:\n- ${problems.join('\n- ')}`);
  });
});
