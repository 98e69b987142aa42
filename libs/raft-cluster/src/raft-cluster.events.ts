import type { Role } from '@raft-cqrs/raft';

/**
 * Cluster events of one node, from `RaftClusterService.events$`. Membership events fire when this
 * node's configuration changes (a change takes effect as soon as it is in the log, Raft thesis 4.1);
 * reachability events come from this node's transport (the first successful contact included).
 */
export type RaftClusterEvent =
  | { type: 'leader-changed'; leaderId: string | null; previousLeaderId: string | null; leaderUrl: string | null; term: number }
  | { type: 'role-changed'; role: Role; previousRole: Role; term: number }
  | { type: 'member-added'; id: string; url: string | null; voter: boolean }
  /** A learner became a voter (not in the original list of event types; the CQRS bridge may ignore it). */
  | { type: 'member-promoted'; id: string; url: string | null }
  | { type: 'member-removed'; id: string; url: string | null }
  | { type: 'member-unreachable'; id: string; url: string | null }
  | { type: 'member-reachable'; id: string; url: string | null };

export type RaftClusterEventType = RaftClusterEvent['type'];
