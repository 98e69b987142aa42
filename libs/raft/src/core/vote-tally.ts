import { isQuorum } from './progress';
import { NodeId } from './types';

export type ElectionResult = 'won' | 'lost' | 'pending';

/** The answers to one campaign (a pre-vote or a vote); a voter's first answer is the one that counts. */
export class VoteTally {
  private readonly answers = new Map<NodeId, boolean>();

  clear(): void {
    this.answers.clear();
  }

  record(voter: NodeId, granted: boolean): void {
    if (!this.answers.has(voter)) this.answers.set(voter, granted);
  }

  result(voters: readonly NodeId[]): ElectionResult {
    if (isQuorum(voters, (id) => this.answers.get(id) === true)) return 'won';
    if (isQuorum(voters, (id) => this.answers.get(id) === false)) return 'lost';
    return 'pending';
  }
}
