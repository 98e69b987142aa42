/**
 * `@raft-cqrs/raft-cluster/groups`: extra Raft groups beside the main one (one log per conversation,
 * tenant or shard), each with its own leader, storage and state machine. See `RaftGroupHost`.
 */
export { RaftGroupHost, RAFT_GROUP_HOST_OPTIONS, DEFAULT_MAX_RAFT_GROUPS } from './raft-group-host';
export type { RaftGroupHostOptions, RaftGroupSpec } from './raft-group-host';
export { RaftGroup } from './raft-group';
export type { RaftGroupStatus, RaftGroupMemberStatus, AddMemberResult, RemoveMemberResult, TransferResult, Submission } from './raft-group';
export { isRaftGroupName, RAFT_GROUP_NAME_PATTERN } from './group-peer';
// A group's leader answers requests a follower relays to it: a route serving a group forwards with
// `RaftGroup.forwardToLeader` and throws the answer as a RelayedAnswer, which the module's error filter
// writes out unchanged; FORWARDED_HEADER marks a relayed request, so it is never relayed twice.
export { RelayedAnswer } from '../http/relayed-answer';
export { FORWARDED_HEADER } from '../internal/http-client';
export { LeaderUnavailableError } from '../raft-cluster.errors';
export type { HttpAnswer } from '../internal/http-client';
export { currentRequestContext } from '../http/request-context';
export type { RequestContext } from '../http/request-context';
