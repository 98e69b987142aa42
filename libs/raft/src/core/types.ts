export type NodeId = string;

// A real enum, not `const`: apps compiled with isolatedModules (swc, esbuild) cannot read an ambient const enum.
export enum EntryType {
  Normal = 0,
  /** Appended by a new leader so that it can commit (and learn the commit index) in its own term. */
  Noop = 1,
  /** `data` holds an encoded {@link ConfChange}; the new configuration applies as soon as it is appended. */
  ConfChange = 2,
}

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** Membership at a point in the log. `addresses` is opaque to the core (the runtime keeps peer URLs there). */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  addresses: Record<NodeId, string>;
}

export type ConfChange =
  | { type: 'addLearner'; id: NodeId; address?: string }
  | { type: 'promote'; id: NodeId }
  | { type: 'remove'; id: NodeId };

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
  /** Size in bytes of the application snapshot; the core sends it in chunks of `snapshotChunkSize`. */
  size: number;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

export interface VoteRequest extends Envelope {
  type: 'vote' | 'pre-vote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the election was started by TimeoutNow: voters ignore their leader lease. */
  transfer: boolean;
}

export interface VoteResponse extends Envelope {
  type: 'vote-resp' | 'pre-vote-resp';
  granted: boolean;
}

export interface AppendRequest extends Envelope {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

export interface AppendResponse extends Envelope {
  type: 'append-resp';
  /** Accepted: the follower's log matches the leader's up to `index`. Rejected: `index` is the prevIndex refused. */
  index: number;
  reject: boolean;
  /** On reject: the follower's last index at or below `index` whose term is at most `hintTerm`. */
  hintIndex: number;
  hintTerm: number;
}

export interface HeartbeatRequest extends Envelope {
  type: 'heartbeat';
  commit: number;
  /** Latest ReadIndex round; a response echoing it confirms leadership for every read up to it. */
  readRound: number;
}

export interface HeartbeatResponse extends Envelope {
  type: 'heartbeat-resp';
  readRound: number;
}

export interface SnapshotChunk extends Envelope {
  type: 'snapshot';
  meta: SnapshotMeta;
  offset: number;
  /** Filled by the driver from its snapshot store (the core only decides offsets and lengths). */
  data: Uint8Array;
  length: number;
  done: boolean;
}

export interface SnapshotResponse extends Envelope {
  type: 'snapshot-resp';
  snapshotIndex: number;
  /** Next offset the follower expects; equal to meta.size once installed. */
  nextOffset: number;
  /** The follower already has everything up to `snapshotIndex` (or later): stop sending. */
  installed: boolean;
}

export interface TimeoutNow extends Envelope {
  type: 'timeout-now';
}

export interface ReadIndexRequest extends Envelope {
  type: 'read-index';
  requestId: number;
}

export interface ReadIndexResponse extends Envelope {
  type: 'read-index-resp';
  requestId: number;
  /** -1 when the leader could not serve it (no longer leader). */
  index: number;
}

export interface ReadState {
  /** The caller's id for the read, from {@link RaftCore.readIndex}. */
  requestId: number;
  /** Serve the read once the local state machine has applied this index. -1: failed, retry. */
  index: number;
}

export interface SoftState {
  role: Role;
  leaderId: NodeId | null;
}

export interface SnapshotChunkWrite {
  meta: SnapshotMeta;
  offset: number;
  data: Uint8Array;
}

/**
 * What the driver must do next. Order: write `snapshotChunks`, persist `hardState`, `entries`
 * (truncating the stored log at `entries[0].index` first) and `snapshot`, all durably; send `messages`
 * at once (they may go before persistence); send `messagesAfterPersist` only once persisted; then apply
 * `committed` in order (restoring `snapshot` first if set); then call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: SnapshotMeta | null;
  snapshotChunks: SnapshotChunkWrite[];
  committed: Entry[];
  messages: Message[];
  messagesAfterPersist: Message[];
  readStates: ReadState[];
}

/**
 * Whether a Ready must be on disk before its `messagesAfterPersist` leave: new entries, a snapshot, or
 * a new term or vote. A hard state that only moves the commit index need not be synced (etcd's
 * MustSync): a commit index is re-learnt from the leader, and one lost in a crash only means the node
 * applies less on restart until it hears from the leader. Drivers keep such a hard state and write it
 * with the next sync instead of paying a sync per commit advance.
 */
export function mustSync(rd: Ready, persisted: HardState): boolean {
  if (rd.entries.length > 0 || rd.snapshot !== null) return true;
  const hs = rd.hardState;
  return hs !== null && (hs.term !== persisted.term || hs.vote !== persisted.vote);
}

export class RaftError extends Error {
  constructor(
    readonly code: 'not_leader' | 'transfer_in_progress' | 'conf_change_pending' | 'bad_conf_change' | 'proposal_dropped',
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}
