import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;

/** What the gauges read at scrape time. */
export interface MetricsSource {
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  snapshotBytes: number;
}

/** What the event processor gauges read at scrape time. */
export interface ProcessorMetricsSource {
  name: string;
  checkpointIndex: number;
  lag: number;
  failing: boolean;
}

const PROPOSAL_RESULTS = ['ok', 'error', 'not_leader', 'dropped', 'lost', 'stopped'] as const;
export type ProposalResult = (typeof PROPOSAL_RESULTS)[number];

/**
 * The Prometheus metrics of one cluster node, in a registry of its own (never prom-client's global
 * default registry), so that several nodes can live in one process. Serve `registry.metrics()` with
 * `registry.contentType`; or merge it into an app registry with `Registry.merge([...])`. With
 * `processMetrics` (the default) it also carries Node's process metrics (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, heap, handles, ...): an app that collects them itself turns ours off.
 */
export class RaftClusterMetrics {
  readonly registry = new Registry();
  private source: () => MetricsSource | null = () => null;
  private processorSource: () => ProcessorMetricsSource[] = () => [];

  readonly term: Gauge;
  readonly role: Gauge<'role'>;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly leaderChanges: Counter;
  readonly elections: Counter;
  readonly appendLatency: Histogram;
  readonly fsyncLatency: Histogram;
  readonly proposals: Counter<'result'>;
  readonly forwardedRequests: Counter;
  readonly snapshots: Counter;
  readonly digestMismatches: Counter;
  readonly shedRequests: Counter;
  readonly snapshotBytes: Gauge;
  readonly processorFailures: Counter<'processor'>;
  readonly processorResets: Counter<'processor'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const read = (): MetricsSource | null => {
      try {
        return this.source();
      } catch {
        return null;
      }
    };
    const term = (this.term = new Gauge({
      name: 'raft_term',
      help: 'Current Raft term of this node',
      registers,
      collect: () => {
        const s = read();
        if (s !== null) term.set(s.term);
      },
    }));
    const role = (this.role = new Gauge({
      name: 'raft_role',
      help: 'Current role of this node (1 for the role it has, 0 for the others)',
      labelNames: ['role'] as const,
      registers,
      collect: () => {
        const s = read();
        for (const r of ROLES) role.set({ role: r }, s !== null && s.role === r ? 1 : 0);
      },
    }));
    const commit = (this.commitIndex = new Gauge({
      name: 'raft_commit_index',
      help: 'Highest log index known to be committed',
      registers,
      collect: () => {
        const s = read();
        if (s !== null) commit.set(s.commitIndex);
      },
    }));
    const applied = (this.appliedIndex = new Gauge({
      name: 'raft_applied_index',
      help: 'Highest log index applied to the state machine on this node',
      registers,
      collect: () => {
        const s = read();
        if (s !== null) applied.set(s.appliedIndex);
      },
    }));
    this.leaderChanges = new Counter({ name: 'raft_leader_changes_total', help: 'Times this node saw a new leader', registers });
    this.elections = new Counter({ name: 'raft_elections_total', help: 'Elections this node started (became candidate)', registers });
    this.appendLatency = new Histogram({
      name: 'raft_append_latency_seconds',
      help: 'Time from proposing an entry on the leader to its commit and local apply',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.fsyncLatency = new Histogram({
      name: 'raft_fsync_latency_seconds',
      help: 'Duration of durable log writes (storage save: write and sync)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.proposals = new Counter({
      name: 'raft_proposals_total',
      help: 'Proposals made on this node, by outcome',
      labelNames: ['result'] as const,
      registers,
    });
    // Every outcome is exported from the start (at 0): a series that appears only after its first event
    // breaks rate() and alerts that look for it, and a node that never proposed still shows the metric.
    for (const result of PROPOSAL_RESULTS) this.proposals.inc({ result }, 0);
    this.forwardedRequests = new Counter({
      name: 'raft_forwarded_requests_total',
      help: 'Requests (commands, cluster and leader-only HTTP requests) this node forwarded to the leader',
      registers,
    });
    this.shedRequests = new Counter({
      name: 'raft_http_requests_shed_total',
      help: 'App requests refused with 503 before routing because the node had too many in progress (load shedding)',
      registers,
    });
    this.digestMismatches = new Counter({
      name: 'raft_state_digest_mismatches_total',
      help: "Times this replica's state digest differed from the leader's at the same index (a non-deterministic command handler)",
      registers,
    });
    this.snapshots = new Counter({ name: 'raft_snapshots_total', help: 'Snapshots made durable on this node (taken or received)', registers });
    const snapBytes = (this.snapshotBytes = new Gauge({
      name: 'raft_snapshot_bytes',
      help: 'Size in bytes of the current durable snapshot',
      registers,
      collect: () => {
        const s = read();
        if (s !== null) snapBytes.set(s.snapshotBytes);
      },
    }));
    const processors = (): ProcessorMetricsSource[] => {
      try {
        return this.processorSource();
      } catch {
        return [];
      }
    };
    // One gauge per figure, each read from the processors at scrape time.
    const processorGauge = (name: string, help: string, value: (p: ProcessorMetricsSource) => number): void => {
      const gauge: Gauge<'processor'> = new Gauge({
        name,
        help,
        labelNames: ['processor'],
        registers,
        collect: () => {
          for (const p of processors()) gauge.set({ processor: p.name }, value(p));
        },
      });
    };
    processorGauge('raft_event_processor_checkpoint_index', 'Log index of the last event each event processor handled on this node', (p) => p.checkpointIndex);
    processorGauge('raft_event_processor_lag_events', 'Events held for each event processor that it has not handled yet', (p) => p.lag);
    processorGauge('raft_event_processor_failing', '1 while an event processor keeps failing on the same event (it retries with back-off), else 0', (p) => (p.failing ? 1 : 0));
    this.processorFailures = new Counter({
      name: 'raft_event_processor_failures_total',
      help: 'Failed deliveries of an event to an event processor (each is retried)',
      labelNames: ['processor'],
      registers,
    });
    this.processorResets = new Counter({
      name: 'raft_event_processor_resets_total',
      help: 'Times an event processor was reset because the events after its checkpoint were no longer held',
      labelNames: ['processor'],
      registers,
    });
  }

  bindProcessors(source: () => ProcessorMetricsSource[]): void {
    this.processorSource = source;
  }

  bindSource(source: () => MetricsSource | null): void {
    this.source = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
