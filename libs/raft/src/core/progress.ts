import { NodeId } from './types';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (etcd's tracker.Progress, reduced to what this core needs). */
export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Probe: an append is in flight and unanswered; wait for a reply or the next heartbeat. */
  probeSent = false;
  /** Last indexes of appends in flight, oldest first (replicate state's window). */
  readonly inflight: number[] = [];
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Ticks since we last heard from this peer. */
  ticksSinceContact = 0;
  /** Snapshot state: the snapshot being sent and the next offset to send. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  /** Ticks since the last snapshot chunk was sent (a lost chunk is resent after a timeout). */
  snapshotTicks = 0;

  constructor(
    readonly id: NodeId,
    next: number,
    public isLearner: boolean,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.resetState('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.snapshotOffset = 0;
    this.snapshotTicks = 0;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight.length = 0;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
  }

  /** Returns false when `n` is stale (already known matched). */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** A rejection of `rejected` with the follower's hint; returns false when it is stale. */
  maybeDecrTo(rejected: number, hintNext: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hintNext), this.match + 1);
    this.probeSent = false;
    return true;
  }

  freeInflightsTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n] <= index) n++;
    if (n > 0) this.inflight.splice(0, n);
  }

  isPaused(maxInflight: number): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Records an append whose last entry is `last`. */
  sentEntries(last: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflight.push(last);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}

/** The index a majority of `voters` has reached, given each voter's match. */
export function quorumIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const m = voters.map(matchOf).sort((a, b) => b - a);
  return m[Math.floor(voters.length / 2)];
}

export function isQuorum(voters: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const v of voters) if (has(v)) n++;
  return n > voters.length / 2;
}
