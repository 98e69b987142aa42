import { ConfState, NodeId, RaftCore, Role } from '../../src/core';

/**
 * Everything the interpreter reads of a core's state, and the only place that reads it: the core's
 * internals move (fields get renamed, state moves to other files) and the scripts must not care, so a
 * change there costs one line here. Only the public API is used: `status()` and `confAt()`.
 */
export interface CoreView {
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commit: number;
  lastIndex: number;
  snapshotIndex: number;
  conf: ConfState;
  leadTransferee: NodeId | null;
  /** The leader's view of each peer (empty on a non-leader). */
  progress: { id: NodeId; match: number; next: number; state: string; learner: boolean }[];
}

export function viewOf(core: RaftCore): CoreView {
  const s = core.status();
  return {
    role: s.role,
    term: s.term,
    vote: s.vote,
    leaderId: s.leaderId,
    commit: s.commit,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    conf: s.conf,
    leadTransferee: s.leadTransferee,
    progress: s.progress.map(({ id, match, next, state, learner }) => ({ id, match, next, state, learner })),
  };
}

/** The configuration in force at `index`, for a snapshot taken there. */
export function confAt(core: RaftCore, index: number): ConfState {
  return core.confAt(index);
}
