import { quorumIndex } from './progress';
import { NodeId } from './types';

/** A linearizable read asked of the leader, by `from` (the leader itself or a follower that forwarded it). */
export interface ReadRequest {
  from: NodeId;
  requestId: number;
}

/** A read that may be answered with `index` once a quorum has acknowledged heartbeat round `round`. */
export interface HeldRead extends ReadRequest {
  index: number;
  round: number;
}

/**
 * The leader's ReadIndex requests until a quorum confirms it still leads. Instead of a context per
 * request (etcd's read_only.go), reads share numbered heartbeat rounds: a round starts after the
 * reads it covers were held, so a quorum acknowledging it proves leadership at a moment after each
 * of them was asked. Nothing here sends or answers; the core does both with what comes out.
 */
export class ReadOnlyRequests {
  private currentRound = 0;
  private roundWanted = false;
  private held: HeldRead[] = [];
  /** Reads asked before the leader committed in its term: its commit index was not yet known to be current. */
  private awaitingCommit: ReadRequest[] = [];
  /** Highest round each peer has acknowledged, for the peers the leader tracks now. */
  private readonly acks = new Map<NodeId, number>();

  constructor(
    private readonly self: NodeId,
    private readonly maxHeld: number,
  ) {}

  /** The round heartbeats carry; it keeps growing across terms so that an old acknowledgement never counts for a new read. */
  get round(): number {
    return this.currentRound;
  }

  /** A read is held for a round no heartbeat carries yet. */
  get wantsRound(): boolean {
    return this.roundWanted;
  }

  /** Starts the round wanted by the reads held since the last one; false when none is wanted. */
  beginWantedRound(): boolean {
    if (!this.roundWanted) return false;
    this.roundWanted = false;
    this.currentRound++;
    return true;
  }

  /** Beyond this many, a read fails at once rather than wait. */
  get isFull(): boolean {
    return this.held.length + this.awaitingCommit.length >= this.maxHeld;
  }

  /** Holds `request` to be answered with `commit`, the leader's commit index now, after the next round. */
  hold(request: ReadRequest, commit: number): void {
    this.held.push({ ...request, index: commit, round: this.currentRound + 1 });
    this.roundWanted = true;
  }

  awaitCommit(request: ReadRequest): void {
    this.awaitingCommit.push(request);
  }

  /** The leader has committed in its term, at `commit`: the reads that waited for it are held from now on. */
  admitAwaitingCommit(commit: number): void {
    const waiting = this.awaitingCommit;
    this.awaitingCommit = [];
    for (const r of waiting) this.hold(r, commit);
  }

  /** `peer` acknowledged heartbeat round `round`; true when that is news (held reads may now be released). */
  recordAck(peer: NodeId, round: number): boolean {
    if (round <= (this.acks.get(peer) ?? 0)) return false;
    this.acks.set(peer, round);
    return true;
  }

  /** The leader no longer tracks `peer`: should it track it again, its acknowledgements start over. */
  forgetPeer(peer: NodeId): void {
    this.acks.delete(peer);
  }

  forgetAllPeers(): void {
    this.acks.clear();
  }

  /** Removes and returns, oldest first, the held reads whose round a quorum of `voters` has acknowledged. */
  release(voters: readonly NodeId[]): HeldRead[] {
    if (this.held.length === 0) return [];
    const confirmed = quorumIndex(voters, (id) => (id === this.self ? Infinity : (this.acks.get(id) ?? 0)));
    let n = 0;
    while (n < this.held.length && this.held[n].round <= confirmed) n++;
    return n > 0 ? this.held.splice(0, n) : [];
  }

  /** Leadership is lost: removes and returns every read (held ones first), none of which can be answered now. */
  drain(): ReadRequest[] {
    const all: ReadRequest[] = [...this.held, ...this.awaitingCommit];
    this.held = [];
    this.awaitingCommit = [];
    this.roundWanted = false;
    return all;
  }
}
