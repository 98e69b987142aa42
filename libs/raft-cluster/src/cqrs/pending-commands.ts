import { ClusterHttpError, RETRY_AFTER_SECONDS } from '../raft-cluster.errors';

/** Commands one node holds while they wait for an outcome; beyond it, 503 (no unbounded queue in front of the log). */
const MAX_PENDING_COMMANDS = 1024;

/**
 * The commands waiting for an outcome on this node: its own (proposed here or forwarded) and those
 * forwarded to it. One bound for both, so a leader flooded by its followers sheds load as it would for
 * its own clients.
 */
export class PendingCommands {
  private count = 0;

  /** Runs `fn` as one more pending command; 503 `overloaded` when the bound is reached. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.count >= MAX_PENDING_COMMANDS) throw this.overloaded();
    this.count++;
    try {
      return await fn();
    } finally {
      this.count--;
    }
  }

  private overloaded(): ClusterHttpError {
    return new ClusterHttpError(503, 'overloaded', `${this.count} commands are already waiting for an outcome on this node; retry shortly`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
  }
}
