import { randomBytes } from 'node:crypto';
import { ClusterHttpError, LeaderUnavailableError } from '../raft-cluster.errors';
import { replicatedCommands, replicatedEvents } from './decorators';
import { EncodedRequest, stampRequest } from './envelope';

/** A command proposed on this node as leader, waiting for its entry's apply. */
interface WaitingCommand {
  deadline: number;
  waitedMs: number;
  reject(err: Error): void;
}

/** How often the deadlines of the commands waiting on the leader are checked. */
const DEADLINE_SWEEP_MS = 20;

const SEED_PREFIX = randomBytes(9).toString('base64url');

/** Why a request names a command or event this node has not registered, or null. */
export function unknownName(req: EncodedRequest): { error: string; message: string } | null {
  const registry = req.k === 'evt' ? replicatedEvents : replicatedCommands;
  for (const n of req.names) {
    if (!registry.has(n)) {
      const kind = req.k === 'evt' ? 'event' : 'command';
      return { error: `unknown_${kind}`, message: `no ${kind} is registered as ${JSON.stringify(n)} on the leader` };
    }
  }
  return null;
}

/**
 * The leader's side of a command: stamped with the leader's clock and id seed, proposed, and waited for
 * until its entry is applied here or its deadline passes. Commands submitted on this node and those a
 * follower forwarded both come here.
 */
export class LeaderProposals {
  private seedCounter = 0;
  private readonly waiting = new Set<WaitingCommand>();
  private deadlineSweep: NodeJS.Timeout | null = null;

  constructor(private readonly proposeEntry: (bytes: Uint8Array) => Promise<{ result: unknown }>) {}

  /** Stamps, proposes and resolves with the apply's result (rejects with its error). */
  propose(req: EncodedRequest, deadline: number): Promise<unknown> {
    // A name this leader does not know never reaches the log (followers would skip it anyway).
    const unknown = unknownName(req);
    if (unknown !== null) return Promise.reject(new ClusterHttpError(400, unknown.error, unknown.message));
    const now = Date.now();
    const bytes = stampRequest(req, now, this.nextSeed());
    return new Promise((resolve, reject) => {
      const waiter: WaitingCommand = { deadline, waitedMs: Math.max(1, deadline - now), reject };
      this.waiting.add(waiter);
      this.sweepDeadlinesSoon();
      this.proposeEntry(bytes).then(
        (outcome) => {
          if (this.waiting.delete(waiter)) resolve(outcome.result);
        },
        (err: unknown) => {
          if (this.waiting.delete(waiter)) reject(err as Error);
        },
      );
    });
  }

  /**
   * A leader that steps down may never learn the fate of its pending entries (a deposed leader on the
   * minority side hears nothing). Its waiting commands retry at once with the same request id at the new
   * leader, which answers from the session table if the entry did commit.
   */
  leadershipLost(): void {
    const err = new LeaderUnavailableError('this node stopped leading before the outcome was known');
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const w of waiting) w.reject(err);
  }

  close(): void {
    if (this.deadlineSweep !== null) clearTimeout(this.deadlineSweep);
    this.deadlineSweep = null;
  }

  /**
   * The seed of an entry's ids: unique per proposal (a random prefix drawn once per process, then a
   * counter), which is all `newId()` needs; a fresh random draw per proposal cost 3% of the leader's CPU.
   */
  private nextSeed(): string {
    return `${SEED_PREFIX}${(this.seedCounter++).toString(36)}`;
  }

  /**
   * One timer for all the commands waiting here, not one each (a timer per command was a measurable part
   * of the leader's CPU): every {@link DEADLINE_SWEEP_MS} while any wait, the overdue ones are given up.
   */
  private sweepDeadlinesSoon(): void {
    if (this.deadlineSweep !== null) return;
    this.deadlineSweep = setTimeout(() => {
      this.deadlineSweep = null;
      const now = Date.now();
      for (const w of this.waiting) {
        if (w.deadline > now) continue;
        this.waiting.delete(w);
        w.reject(new LeaderUnavailableError(`not committed within ${w.waitedMs} ms`));
      }
      if (this.waiting.size > 0) this.sweepDeadlinesSoon();
    }, DEADLINE_SWEEP_MS);
    this.deadlineSweep.unref();
  }
}
