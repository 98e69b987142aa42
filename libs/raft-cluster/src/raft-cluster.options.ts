/**
 * Options of {@link RaftClusterModule}: what an app passes (`RaftClusterModuleOptions`), what the module
 * runs with once they are checked and defaulted (`ResolvedRaftClusterOptions`), and the defaults. The
 * checking is `validateRaftClusterOptions` in options/validate-options.ts; members and their URLs are
 * parsed in options/members.ts.
 */
import type { CanActivate, Type } from '@nestjs/common';
import type { RaftPayloadCodec } from './cqrs/payload';
import type { RaftClusterMember } from './options/members';

export type { RaftClusterMember } from './options/members';
// Member id and URL checks live with the member parsing; still exported from here for the group code
// that imports them through this file.
export { MEMBER_ID_PATTERN, normaliseMemberUrl } from './options/members';

export interface RaftClusterModuleOptions {
  /** This member's id: letters, digits, `.`, `_`, `-` (1-64 characters). */
  memberId: string;
  /**
   * The initial voters (etcd's `--initial-cluster`): `'id=url'` strings or `{ id, url }` objects. May be
   * empty when `join` is set. Used only when the data directory is empty: afterwards the configuration
   * comes from the log.
   */
  members?: ReadonlyArray<string | RaftClusterMember>;
  /**
   * URL of any running member. The node starts with no configuration and asks that member to add it
   * (`POST {join}/cluster/members {id, url}`), retrying with backoff until it is added. Ignored once the
   * node's stored configuration contains it.
   */
  join?: string;
  /** This node's URL as its peers reach it. Default: its entry in `members` (required with `join` otherwise). */
  advertiseUrl?: string;
  /** `[min, max]` ms; each election timeout is drawn uniformly from it. Default `[150, 300]`. */
  electionTimeout?: readonly [number, number];
  /** Leader heartbeat period in ms, below `electionTimeout[0]`. Default 50. */
  heartbeatInterval?: number;
  /** Entries applied since the last snapshot that trigger a new snapshot. Default 10,000. */
  compactionThreshold?: number;
  /** Folder of the durable storage; `':memory:'` keeps everything in memory (tests only). */
  dataDir: string;
  /** Shared peer secret (HMAC of every peer request). Required unless `insecurePeers` is true. */
  secret?: string;
  /** Run without a peer secret: every peer request is accepted. Tests and trusted networks only. */
  insecurePeers?: boolean;
  /**
   * Bearer token of the endpoints that change membership or leadership (`Authorization: Bearer <token>`).
   * Default: the cluster `secret`. Every member should use the same one (a follower checks it, then
   * forwards to the leader with its own member proof).
   */
  adminToken?: string;
  /**
   * The app's own Nest guard for those endpoints, instead of the bearer token (a class, resolved from
   * the app's providers or created by Nest, or an instance). Requests between members (a follower
   * forwarding, a node joining) carry a proof made with the cluster secret and pass without it.
   */
  adminGuard?: Type<CanActivate> | CanActivate;
  /** Also require the admin credential for `GET /cluster/status`, `/cluster/stream` and `/metrics`. Health stays open. Default false. */
  protectReads?: boolean;
  /** `/metrics` also carries Node's process metrics (prom-client's `collectDefaultMetrics`). Default true. */
  processMetrics?: boolean;
  /**
   * Serve the peer endpoints (`/raft/*`) on a separate HTTP server on this port instead of the app's
   * server. Every member must then use the same `peerPort`: a peer is reached at the host of its member
   * URL on this port (member URLs stay the app URLs, used for forwarding and `leaderUrl`).
   */
  peerPort?: number;
  /** Bind address of the `peerPort` server. Default `'0.0.0.0'`. */
  peerHost?: string;
  /** Timeout of one peer request in ms; below `electionTimeout[0]`. Default `max(1, min(electionTimeout[0] - heartbeatInterval, 100))`. */
  requestTimeoutMs?: number;
  /** Largest accepted peer request body in bytes. Default 16 MiB. */
  maxPeerBodyBytes?: number;
  /** Timeout of a cluster request forwarded to the leader, and of membership changes, in ms. Default 10000. */
  forwardTimeoutMs?: number;
  /** How long shutdown waits for leadership to move elsewhere, in ms. Default `2 * electionTimeout[1]`. */
  shutdownTransferTimeoutMs?: number;
  /** Load shedding: app requests in progress on this node beyond which new ones get 503 + Retry-After at once. Default 1024. */
  maxInFlightRequests?: number;
  /** Load shedding: once the oldest request in progress has waited this long (ms), new ones get 503. Default 1000. */
  maxQueueDelayMs?: number;
  /**
   * CQRS bridge: request ids remembered for exactly-once commands (oldest forgotten first): a command
   * retried with the same key after more than this many other keyed commands may apply again. Default 10000.
   */
  maxSessions?: number;
  /**
   * Request headers whose value makes a command idempotent (the first one present wins). Default
   * `['idempotency-key']`. Tracing headers such as `x-request-id` are set by proxies and can repeat
   * across different requests: add one only when every client sets it to a fresh value per operation.
   */
  idempotencyHeaders?: readonly string[];
  /**
   * CQRS bridge: how command and event fields and handler results become the JSON the log carries, and
   * back (for example `{ encode: superjson.serialize, decode: superjson.deserialize }` to carry Date,
   * Map, Set and BigInt). Every node must use the same codec. Default: plain JSON, and a value JSON
   * would change (Map, Set, Date, BigInt, class instances, NaN, cycles) is refused, naming the field.
   */
  codec?: RaftPayloadCodec;
  /** CQRS bridge: largest serialised command (or batch, or broadcast event) in bytes; beyond it 413. Default 1 MiB. */
  maxCommandBytes?: number;
  /** CQRS bridge: compare replica state digests after every index that is a multiple of this. Default `min(compactionThreshold, 256)`. */
  digestInterval?: number;
  /** CQRS bridge: how `@LeaderOnly()` routes answer on a follower unless the route says: 'forward' (default), 'redirect' or 'reject'. */
  leaderOnlyMode?: 'forward' | 'redirect' | 'reject';
  /**
   * Event processors: the events of the last this-many entries are kept (in the replicated state, and in
   * its snapshots) for processors that have not handled them yet; also the most events kept. A processor
   * further behind is reset (its `reset()` hook) instead of silently skipping. Default 10,000.
   */
  maxEventLag?: number;
}

/** The options after validation, with every default filled in. */
export interface ResolvedRaftClusterOptions {
  memberId: string;
  members: RaftClusterMember[];
  /** `members` as `id -> url` (the initial configuration; empty when joining). */
  initialMembers: Record<string, string>;
  join: string | null;
  advertiseUrl: string;
  electionTimeout: [number, number];
  heartbeatInterval: number;
  compactionThreshold: number;
  dataDir: string;
  secret: string | null;
  insecurePeers: boolean;
  /** The bearer token of admin endpoints (`adminToken`, else `secret`); null: none (insecure peers without a token). */
  adminToken: string | null;
  adminGuard: Type<CanActivate> | CanActivate | null;
  protectReads: boolean;
  processMetrics: boolean;
  peerPort: number | null;
  peerHost: string;
  requestTimeoutMs: number;
  maxPeerBodyBytes: number;
  forwardTimeoutMs: number;
  shutdownTransferTimeoutMs: number;
  maxInFlightRequests: number;
  maxQueueDelayMs: number;
  maxSessions: number;
  /** Lower-case header names, in order of precedence. */
  idempotencyHeaders: string[];
  codec: RaftPayloadCodec | null;
  maxCommandBytes: number;
  digestInterval: number;
  leaderOnlyMode: 'forward' | 'redirect' | 'reject';
  maxEventLag: number;
}

export const DEFAULT_ELECTION_TIMEOUT: [number, number] = [150, 300];
export const DEFAULT_HEARTBEAT_INTERVAL = 50;
/**
 * Every snapshot writes the whole state: at 1,000 a node busy with 2,000 commands a second rewrote its
 * state twice a second. etcd's default is 100,000; 10,000 keeps the in-memory log a few MB.
 */
export const DEFAULT_COMPACTION_THRESHOLD = 10_000;
export const DEFAULT_MAX_PEER_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_FORWARD_TIMEOUT_MS = 10_000;
