import type { FailoverResult } from './failover';
import type { LoadResult } from './load';

/** The shapes of a bench:compare run and its results file, shared by compare.ts and report.ts. */

export interface SystemRun {
  round: number;
  system: 'ours' | 'etcd';
  label: string;
  loadBefore: number[];
  loadAfter: number[];
  rows: (LoadResult & { round: number; member: string; leaderChanged: boolean; serverCpuSeconds: number; clientCpuSeconds: number; cpuMsPerPut: CpuPerPut })[];
}

/**
 * CPU milliseconds per acknowledged put over the row (warm-up included), read from /proc for each
 * member and from this process for the load generator: steadier than throughput on a noisy machine,
 * and on 2 cores the cluster's sum is what bounds throughput.
 */
export interface CpuPerPut {
  leader: number;
  /** Each follower, in member order. */
  followers: number[];
  /** The load generator (this process). */
  client: number;
  /** Leader and followers together. */
  cluster: number;
}

export interface SummaryRow {
  path: string;
  concurrency: number;
  rounds: number;
  throughput: number;
  p50: number;
  p99: number;
  failed: number;
  /** Medians over rounds of CPU ms per put: the leader, the mean of the followers, the load generator, the whole cluster. */
  cpuMsPerPut: { leader: number; follower: number; client: number; cluster: number };
  perRound: { round: number; throughput: number; p50: number; p99: number; failed: number }[];
}

export interface RatioRow {
  concurrency: number;
  ours: string;
  etcd: string;
  /** Medians over rounds of the within-round ratios ours/etcd. */
  throughput: number;
  p50: number;
  p99: number;
  perRound: { round: number; throughput: number; p50: number; p99: number }[];
}

/** What summarise() makes of the runs: one row per path and concurrency, and the ours/etcd ratios. */
export interface CompareSummary {
  rows: SummaryRow[];
  ratios: RatioRow[];
}

export type CompareResult = {
  issue: number;
  startedAt: string;
  finishedAt: string;
  dev: boolean;
  settings: { seconds: number; warmup: number; rounds: number; concurrency: number[]; paths: string[]; kills: number; attemptIntervalMs: number; attemptTimeoutMs: number; valueBytes: number; etcdTuned: { heartbeatMs: number; electionMs: number } };
  machine: Record<string, unknown> & { nproc: number; node: string; etcd: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  runs: SystemRun[];
  summary: CompareSummary;
  failover: FailoverResult[];
};
