/**
 * Options of {@link RaftClusterModule} and their validation. `validateRaftClusterOptions` is pure: it
 * never reads the environment, the disk or the network, and it never echoes the secret.
 */
import type { CanActivate, Type } from '@nestjs/common';
import { tickTiming } from '@raft-cqrs/raft';
import type { RaftPayloadCodec } from './cqrs/payload';

/** A member as given in `members`: `'id=url'` or `{ id, url }`. */
export interface RaftClusterMember {
  id: string;
  /** Where the other members reach it (and where clients are sent when it leads): `http(s)://host:port`. */
  url: string;
}

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
}

export class RaftClusterOptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `RaftClusterModule: ${p}`).join('\n'));
    this.name = 'RaftClusterOptionsError';
  }
}

export const MEMBER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const KNOWN_OPTIONS = new Set<string>([
  'memberId',
  'members',
  'join',
  'advertiseUrl',
  'electionTimeout',
  'heartbeatInterval',
  'compactionThreshold',
  'dataDir',
  'secret',
  'insecurePeers',
  'adminToken',
  'adminGuard',
  'protectReads',
  'processMetrics',
  'peerPort',
  'peerHost',
  'requestTimeoutMs',
  'maxPeerBodyBytes',
  'forwardTimeoutMs',
  'shutdownTransferTimeoutMs',
  'maxInFlightRequests',
  'maxQueueDelayMs',
  'maxSessions',
  'idempotencyHeaders',
  'codec',
  'maxCommandBytes',
  'digestInterval',
  'leaderOnlyMode',
]);

export const DEFAULT_ELECTION_TIMEOUT: [number, number] = [150, 300];
export const DEFAULT_HEARTBEAT_INTERVAL = 50;
/**
 * Every snapshot writes the whole state: at 1,000 a node busy with 2,000 commands a second rewrote its
 * state twice a second. etcd's default is 100,000; 10,000 keeps the in-memory log a few MB.
 */
export const DEFAULT_COMPACTION_THRESHOLD = 10_000;
export const DEFAULT_MAX_PEER_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_FORWARD_TIMEOUT_MS = 10_000;

/** A short, safe rendering of a value for error messages (never used for the secret). */
function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  if (Array.isArray(v)) return `[${v.slice(0, 5).map(show).join(', ')}${v.length > 5 ? ', ...' : ''}]`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'object') {
    try {
      const s = JSON.stringify(v);
      return s.length > 80 ? `${s.slice(0, 80)}...` : s;
    } catch {
      return 'an object';
    }
  }
  return typeof v;
}

function isPositiveNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/**
 * Parses an http(s) member URL down to its origin (`http://host:port`, no trailing slash). Returns an
 * error text when it is not one: a path, query, fragment or credentials are not allowed.
 */
export function normaliseMemberUrl(raw: unknown): { url: string } | { problem: string } {
  if (typeof raw !== 'string' || raw.trim() === '') return { problem: `must be an http(s) URL, got ${show(raw)}` };
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return { problem: `must be an http(s) URL such as "http://10.0.0.1:3000", got ${show(raw)}` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { problem: `must be an http(s) URL, got ${show(raw)}` };
  if (u.username !== '' || u.password !== '') return { problem: 'must not contain credentials' };
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') {
    return { problem: `must be an origin only (scheme, host and port, no path or query), got ${show(raw)}` };
  }
  return { url: u.origin };
}

/** The core needs heartbeat ticks below the minimum election ticks, at the runtime's tick size. */
function heartbeatFitsTicks(election: [number, number], heartbeat: number): boolean {
  const t = tickTiming(heartbeat, election);
  return t.heartbeatTicks < t.electionTicks[0];
}

/**
 * Checks the module options and fills in defaults. Throws {@link RaftClusterOptionsError} listing every
 * problem, each naming the option and what is allowed. The secret's value never appears in a message.
 */
export function validateRaftClusterOptions(input: unknown): ResolvedRaftClusterOptions {
  const problems: string[] = [];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new RaftClusterOptionsError([`options must be an object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`]);
  }
  const o = input as Record<string, unknown>;
  const given = (key: string): boolean => o[key] !== undefined;

  for (const key of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(key) && o[key] !== undefined) {
      problems.push(`unknown option "${key}"; known options: ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }

  // memberId
  const memberId = o.memberId;
  const memberIdOk = typeof memberId === 'string' && MEMBER_ID_PATTERN.test(memberId);
  if (!memberIdOk) {
    problems.push(`option "memberId" must be 1-64 characters of letters, digits, ".", "_" or "-" (starting with a letter or digit), got ${show(memberId)}`);
  }

  // join
  let join: string | null = null;
  if (given('join')) {
    const r = normaliseMemberUrl(o.join);
    if ('problem' in r) problems.push(`option "join" ${r.problem}`);
    else join = r.url;
  }
  const joining = given('join');

  // members
  const members: RaftClusterMember[] = [];
  if (o.members === undefined && !joining) {
    problems.push('option "members" is required: an array of "id=url" strings or { id, url } objects (it may be empty only when "join" is set)');
  } else if (o.members !== undefined && !Array.isArray(o.members)) {
    problems.push(`option "members" must be an array of "id=url" strings or { id, url } objects, got ${show(o.members)}`);
  } else if (Array.isArray(o.members)) {
    if (o.members.length === 0 && !joining) {
      problems.push('option "members" must list at least one member (it may be empty only when "join" is set)');
    }
    const ids = new Set<string>();
    const urls = new Map<string, string>();
    const before = problems.length;
    o.members.forEach((m: unknown, i: number) => {
      let id: unknown;
      let url: unknown;
      if (typeof m === 'string') {
        const eq = m.indexOf('=');
        if (eq <= 0) {
          problems.push(`option "members"[${i}] must be "id=url" (for example "node1=http://10.0.0.1:3000"), got ${show(m)}`);
          return;
        }
        id = m.slice(0, eq).trim();
        url = m.slice(eq + 1).trim();
      } else if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
        id = (m as Record<string, unknown>).id;
        url = (m as Record<string, unknown>).url;
      } else {
        problems.push(`option "members"[${i}] must be an "id=url" string or an { id, url } object, got ${show(m)}`);
        return;
      }
      if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) {
        problems.push(`option "members"[${i}] has id ${show(id)}: ids are 1-64 characters of letters, digits, ".", "_" or "-"`);
        return;
      }
      const r = normaliseMemberUrl(url);
      if ('problem' in r) {
        problems.push(`option "members"[${i}] (${id}): the URL ${r.problem}`);
        return;
      }
      if (ids.has(id)) {
        problems.push(`option "members" lists the id "${id}" more than once; ids must be unique`);
        return;
      }
      const other = urls.get(r.url);
      if (other !== undefined) {
        problems.push(`option "members" gives "${id}" and "${other}" the same URL ${r.url}; every member needs its own`);
        return;
      }
      ids.add(id);
      urls.set(r.url, id);
      members.push({ id, url: r.url });
    });
    if (memberIdOk && !joining && o.members.length > 0 && !ids.has(memberId as string) && problems.length === before) {
      problems.push(`option "memberId" ("${memberId as string}") must be one of "members" (${[...ids].join(', ')}) unless "join" is set`);
    }
  }

  // advertiseUrl
  const own = members.find((m) => m.id === memberId);
  let advertiseUrl = own?.url ?? '';
  if (given('advertiseUrl')) {
    const r = normaliseMemberUrl(o.advertiseUrl);
    if ('problem' in r) problems.push(`option "advertiseUrl" ${r.problem}`);
    else if (own !== undefined && own.url !== r.url) {
      problems.push(`option "advertiseUrl" (${r.url}) differs from this member's entry in "members" (${own.url}); give one URL`);
    } else advertiseUrl = r.url;
  } else if (own === undefined && joining) {
    problems.push('option "advertiseUrl" is required when "join" is set and "members" has no entry for "memberId": the URL at which the other members reach this node');
  }

  // timing
  let electionTimeout: [number, number] = [...DEFAULT_ELECTION_TIMEOUT];
  let electionOk = true;
  if (given('electionTimeout')) {
    const et = o.electionTimeout;
    if (!Array.isArray(et) || et.length !== 2 || !isPositiveNumber(et[0]) || !isPositiveNumber(et[1]) || et[0] > et[1]) {
      problems.push(`option "electionTimeout" must be [min, max] in ms with 0 < min <= max, got ${show(et)}`);
      electionOk = false;
    } else electionTimeout = [et[0], et[1]];
  }
  let heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
  if (given('heartbeatInterval')) {
    if (!isPositiveNumber(o.heartbeatInterval)) {
      problems.push(`option "heartbeatInterval" must be a positive number of ms, got ${show(o.heartbeatInterval)}`);
      electionOk = false;
    } else heartbeatInterval = o.heartbeatInterval;
  }
  if (electionOk) {
    if (heartbeatInterval >= electionTimeout[0]) {
      problems.push(
        `option "heartbeatInterval" must be below electionTimeout min (${electionTimeout[0]} ms), got ${heartbeatInterval}; a few heartbeats should fit in one election timeout`,
      );
    } else if (!heartbeatFitsTicks(electionTimeout, heartbeatInterval)) {
      problems.push(
        `option "heartbeatInterval" (${heartbeatInterval} ms) is too close to electionTimeout min (${electionTimeout[0]} ms) at the runtime's tick granularity; keep it at most about 90% of it`,
      );
    }
  }

  let requestTimeoutMs = Math.max(1, Math.min(electionTimeout[0] - heartbeatInterval, 100));
  if (given('requestTimeoutMs')) {
    if (!isPositiveNumber(o.requestTimeoutMs)) {
      problems.push(`option "requestTimeoutMs" must be a positive number of ms, got ${show(o.requestTimeoutMs)}`);
    } else if (o.requestTimeoutMs >= electionTimeout[0]) {
      problems.push(`option "requestTimeoutMs" must be below electionTimeout min (${electionTimeout[0]} ms), got ${o.requestTimeoutMs}`);
    } else requestTimeoutMs = o.requestTimeoutMs;
  }

  let compactionThreshold = DEFAULT_COMPACTION_THRESHOLD;
  if (given('compactionThreshold')) {
    if (!isPositiveInteger(o.compactionThreshold)) {
      problems.push(`option "compactionThreshold" must be a positive integer (entries applied between snapshots), got ${show(o.compactionThreshold)}`);
    } else compactionThreshold = o.compactionThreshold;
  }

  // storage
  const dataDir = o.dataDir;
  if (typeof dataDir !== 'string' || dataDir.trim() === '') {
    problems.push(`option "dataDir" must be a folder path (or ":memory:" for tests), got ${show(dataDir)}`);
  }

  // peer security
  let secret: string | null = null;
  if (given('secret')) {
    if (typeof o.secret !== 'string') problems.push(`option "secret" must be a non-empty string, got a value of type ${typeof o.secret}`);
    else if (o.secret.length === 0) problems.push('option "secret" must be a non-empty string, got an empty string');
    else secret = o.secret;
  }
  let insecurePeers = false;
  if (given('insecurePeers')) {
    if (typeof o.insecurePeers !== 'boolean') problems.push(`option "insecurePeers" must be a boolean, got ${show(o.insecurePeers)}`);
    else insecurePeers = o.insecurePeers;
  }
  if (!given('secret') && !insecurePeers) {
    problems.push('option "secret" is required (the shared peer secret every member uses); set insecurePeers: true to run without one, on trusted networks or in tests only');
  }

  let adminToken: string | null = secret;
  if (given('adminToken')) {
    if (typeof o.adminToken !== 'string' || o.adminToken.length < 8) {
      problems.push(`option "adminToken" must be a string of at least 8 characters, got ${typeof o.adminToken === 'string' ? `one of ${o.adminToken.length}` : `a value of type ${typeof o.adminToken}`}`);
    } else adminToken = o.adminToken;
  }
  let adminGuard: Type<CanActivate> | CanActivate | null = null;
  if (given('adminGuard')) {
    const g = o.adminGuard as unknown;
    const isGuardClass = typeof g === 'function' && typeof (g as { prototype?: { canActivate?: unknown } }).prototype?.canActivate === 'function';
    const isGuardInstance = typeof g === 'object' && g !== null && typeof (g as { canActivate?: unknown }).canActivate === 'function';
    if (!isGuardClass && !isGuardInstance) problems.push(`option "adminGuard" must be a Nest guard (a class with canActivate, or an instance), got ${show(g)}`);
    else adminGuard = g as Type<CanActivate> | CanActivate;
  }
  let protectReads = false;
  if (given('protectReads')) {
    if (typeof o.protectReads !== 'boolean') problems.push(`option "protectReads" must be a boolean, got ${show(o.protectReads)}`);
    else protectReads = o.protectReads;
  }

  let processMetrics = true;
  if (given('processMetrics')) {
    if (typeof o.processMetrics !== 'boolean') problems.push(`option "processMetrics" must be a boolean, got ${show(o.processMetrics)}`);
    else processMetrics = o.processMetrics;
  }

  let peerPort: number | null = null;
  if (given('peerPort')) {
    const p = o.peerPort;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      problems.push(`option "peerPort" must be an integer port 1-65535, got ${show(p)}`);
    } else peerPort = p;
  }
  let peerHost = '0.0.0.0';
  if (given('peerHost')) {
    if (typeof o.peerHost !== 'string' || o.peerHost === '') problems.push(`option "peerHost" must be a bind address such as "0.0.0.0", got ${show(o.peerHost)}`);
    else if (peerPort === null) problems.push('option "peerHost" only makes sense with "peerPort"');
    else peerHost = o.peerHost;
  }

  let maxPeerBodyBytes = DEFAULT_MAX_PEER_BODY_BYTES;
  if (given('maxPeerBodyBytes')) {
    if (!isPositiveInteger(o.maxPeerBodyBytes) || o.maxPeerBodyBytes < 1024) {
      problems.push(`option "maxPeerBodyBytes" must be an integer of at least 1024, got ${show(o.maxPeerBodyBytes)}`);
    } else maxPeerBodyBytes = o.maxPeerBodyBytes;
  }
  let forwardTimeoutMs = DEFAULT_FORWARD_TIMEOUT_MS;
  if (given('forwardTimeoutMs')) {
    if (!isPositiveNumber(o.forwardTimeoutMs)) problems.push(`option "forwardTimeoutMs" must be a positive number of ms, got ${show(o.forwardTimeoutMs)}`);
    else forwardTimeoutMs = o.forwardTimeoutMs;
  }
  let shutdownTransferTimeoutMs = 2 * electionTimeout[1];
  if (given('shutdownTransferTimeoutMs')) {
    const v = o.shutdownTransferTimeoutMs;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      problems.push(`option "shutdownTransferTimeoutMs" must be a number of ms >= 0 (0 skips the hand-over), got ${show(v)}`);
    } else shutdownTransferTimeoutMs = v;
  }

  const positiveIntOption = (key: 'maxSessions' | 'maxCommandBytes' | 'digestInterval' | 'maxInFlightRequests' | 'maxQueueDelayMs', fallback: number, min: number): number => {
    if (!given(key)) return fallback;
    const v = o[key];
    if (!isPositiveInteger(v) || v < min) {
      problems.push(`option "${key}" must be an integer of at least ${min}, got ${show(v)}`);
      return fallback;
    }
    return v;
  };
  const maxInFlightRequests = positiveIntOption('maxInFlightRequests', 1024, 1);
  const maxQueueDelayMs = positiveIntOption('maxQueueDelayMs', 1000, 1);
  const maxSessions = positiveIntOption('maxSessions', 10_000, 1);
  const maxCommandBytes = positiveIntOption('maxCommandBytes', 1024 * 1024, 256);
  // A divergence is found at most this many entries after it happened: a few hundred at most by default.
  const digestInterval = positiveIntOption('digestInterval', Math.min(compactionThreshold, 256), 1);
  let idempotencyHeaders = ['idempotency-key'];
  if (given('idempotencyHeaders')) {
    const h = o.idempotencyHeaders as unknown;
    if (!Array.isArray(h) || h.length === 0 || !h.every((x) => typeof x === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(x))) {
      problems.push(`option "idempotencyHeaders" must be a non-empty array of header names such as ["idempotency-key"], got ${show(h)}`);
    } else idempotencyHeaders = [...new Set((h as string[]).map((x) => x.toLowerCase()))];
  }
  let codec: RaftPayloadCodec | null = null;
  if (given('codec')) {
    const c = o.codec as unknown as { encode?: unknown; decode?: unknown } | null;
    if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
      problems.push(`option "codec" must be an object with encode(value) and decode(value), got ${show(c)}`);
    } else codec = o.codec as RaftPayloadCodec;
  }
  let leaderOnlyMode: 'forward' | 'redirect' | 'reject' = 'forward';
  if (given('leaderOnlyMode')) {
    if (o.leaderOnlyMode !== 'forward' && o.leaderOnlyMode !== 'redirect' && o.leaderOnlyMode !== 'reject') {
      problems.push(`option "leaderOnlyMode" must be 'forward', 'redirect' or 'reject', got ${show(o.leaderOnlyMode)}`);
    } else leaderOnlyMode = o.leaderOnlyMode;
  }

  if (problems.length > 0) throw new RaftClusterOptionsError(problems);

  const initialMembers: Record<string, string> = {};
  if (!joining) for (const m of members) initialMembers[m.id] = m.url;
  return {
    memberId: memberId as string,
    members,
    initialMembers,
    join,
    advertiseUrl,
    electionTimeout,
    heartbeatInterval,
    compactionThreshold,
    dataDir: dataDir as string,
    secret,
    insecurePeers,
    adminToken,
    adminGuard,
    protectReads,
    processMetrics,
    peerPort,
    peerHost,
    requestTimeoutMs,
    maxPeerBodyBytes,
    forwardTimeoutMs,
    shutdownTransferTimeoutMs,
    maxInFlightRequests,
    maxQueueDelayMs,
    maxSessions,
    idempotencyHeaders,
    codec,
    maxCommandBytes,
    digestInterval,
    leaderOnlyMode,
  };
}
