/**
 * Client sessions (Raft thesis §6.3) kept in the replicated state: each client numbers its commands,
 * and a command seen before is answered from the table instead of being applied again. Deterministic:
 * eviction depends only on log indexes, so every replica evicts the same sessions at the same point.
 */
export interface SessionTableOptions {
  /** Sessions kept; the least recently used (by log index) is evicted beyond this. */
  maxSessions: number;
  /** Responses kept per client; a client with more commands in flight than this loses the oldest. */
  maxResponsesPerClient: number;
}

export type SessionLookup<R> =
  | { kind: 'new' }
  | { kind: 'duplicate'; response: R }
  /** The response was already discarded (the client said it had it, or it fell out of the window). */
  | { kind: 'stale' };

interface Session<R> {
  lastIndex: number;
  /** Every seq below this has been answered and its response may be dropped. */
  floor: number;
  responses: Map<number, R>;
}

export interface SessionTableSnapshot<R> {
  sessions: [string, { lastIndex: number; floor: number; responses: [number, R][] }][];
}

export class SessionTable<R> {
  private readonly sessions = new Map<string, Session<R>>();

  constructor(private readonly opts: SessionTableOptions) {
    if (!(opts.maxSessions >= 1 && opts.maxResponsesPerClient >= 1)) throw new Error('session limits must be at least 1');
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Looks up command `seq` of `clientId`. `ackedBelow` is the client's statement that it has the
   * answers to every command numbered below it, so those can be forgotten.
   */
  lookup(clientId: string, seq: number, ackedBelow = 0): SessionLookup<R> {
    const s = this.sessions.get(clientId);
    if (s === undefined) return { kind: 'new' };
    this.raiseFloor(s, ackedBelow);
    const response = s.responses.get(seq);
    if (response !== undefined) return { kind: 'duplicate', response };
    if (seq < s.floor) return { kind: 'stale' };
    return { kind: 'new' };
  }

  /** Records the response of a command applied at log index `index`. */
  record(clientId: string, seq: number, response: R, index: number): void {
    let s = this.sessions.get(clientId);
    if (s === undefined) {
      s = { lastIndex: index, floor: 0, responses: new Map() };
    } else {
      this.sessions.delete(clientId); // re-insert: Map order is our LRU order
    }
    s.lastIndex = index;
    s.responses.set(seq, response);
    while (s.responses.size > this.opts.maxResponsesPerClient) {
      let oldest = Infinity;
      for (const k of s.responses.keys()) if (k < oldest) oldest = k;
      s.responses.delete(oldest);
      s.floor = Math.max(s.floor, oldest + 1);
    }
    this.sessions.set(clientId, s);
    while (this.sessions.size > this.opts.maxSessions) {
      const lru = this.sessions.keys().next().value as string;
      this.sessions.delete(lru);
    }
  }

  private raiseFloor(s: Session<R>, ackedBelow: number): void {
    if (ackedBelow <= s.floor) return;
    s.floor = ackedBelow;
    for (const k of s.responses.keys()) if (k < ackedBelow) s.responses.delete(k);
  }

  toSnapshot(): SessionTableSnapshot<R> {
    return {
      sessions: [...this.sessions].map(([id, s]) => [id, { lastIndex: s.lastIndex, floor: s.floor, responses: [...s.responses] }]),
    };
  }

  restore(snap: SessionTableSnapshot<R>): void {
    this.sessions.clear();
    for (const [id, s] of snap.sessions) {
      this.sessions.set(id, { lastIndex: s.lastIndex, floor: s.floor, responses: new Map(s.responses) });
    }
  }
}
