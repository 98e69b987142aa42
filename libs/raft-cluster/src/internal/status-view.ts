import type { RaftNode, Role } from '@raft-cqrs/raft';
import type { PeerStatus } from '@raft-cqrs/raft/transport';

/** One member in a group's status. `matchIndex` and `lastContactMs` are known on the leader only (null elsewhere). */
export interface ClusterMemberStatus {
  id: string;
  url: string | null;
  voter: boolean;
  reachable: boolean;
  matchIndex: number | null;
  lastContactMs: number | null;
}

/** The Raft fields of `GET /cluster/status` (SPEC section 3), for any group this node runs. */
export interface RaftStatusView {
  memberId: string;
  role: Role;
  isLeader: boolean;
  leaderId: string | null;
  leaderUrl: string | null;
  term: number;
  commitIndex: number;
  lastApplied: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: ClusterMemberStatus[];
}

/** The status of `node` as this member sees it: the main group's and every extra group's alike. */
export function raftStatusView(
  node: RaftNode,
  self: string,
  advertiseUrl: string,
  peers: Record<string, PeerStatus>,
  memberUrl: (id: string | null) => string | null,
): RaftStatusView {
  const s = node.status();
  const isLeader = s.role === 'leader';
  const progress = new Map(s.progress.map((p) => [p.id, p]));
  const member = (id: string, voter: boolean): ClusterMemberStatus => {
    const pr = progress.get(id);
    return {
      id,
      url: s.conf.addresses[id] ?? (id === self ? advertiseUrl : null),
      voter,
      reachable: id === self ? true : (peers[id]?.reachable ?? false),
      matchIndex: isLeader ? (id === self ? s.lastIndex : (pr?.match ?? 0)) : null,
      lastContactMs: isLeader ? (id === self ? 0 : (pr?.ticksSinceContact ?? 0) * s.tickMs) : null,
    };
  };
  return {
    memberId: self,
    role: s.role,
    isLeader,
    leaderId: s.leaderId,
    leaderUrl: memberUrl(s.leaderId),
    term: s.term,
    commitIndex: s.commit,
    lastApplied: s.appliedIndex,
    lastLogIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    members: [...s.conf.voters.map((id) => member(id, true)), ...s.conf.learners.map((id) => member(id, false))],
  };
}
