/**
 * `validateRaftClusterOptions`: checks the module options and fills in defaults. It is pure: it never
 * reads the environment, the disk or the network, and it never echoes the secret. Each group of options
 * has its reader below; they run in a fixed order, so the problems are listed in the order of the options.
 */
import type { CanActivate, Type } from '@nestjs/common';
import { tickTiming } from '@raft-cqrs/raft';
import type { RaftPayloadCodec } from '../cqrs/payload';
import {
  DEFAULT_COMPACTION_THRESHOLD,
  DEFAULT_ELECTION_TIMEOUT,
  DEFAULT_FORWARD_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_MAX_PEER_BODY_BYTES,
  type ResolvedRaftClusterOptions,
} from '../raft-cluster.options';
import { MEMBER_ID_PATTERN, normaliseMemberUrl, parseMemberList, type RaftClusterMember } from './members';
import { isPositiveInteger, isPositiveNumber, show } from './option-values';
import { RaftClusterOptionsError } from './options-error';

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
  'maxEventLag',
]);

/** The options as given, not yet checked. Every reader below takes them and the list it adds its problems to. */
type RawOptions = Record<string, unknown>;

/** `undefined` counts as not given. */
function given(o: RawOptions, key: string): boolean {
  return o[key] !== undefined;
}

function booleanOption(o: RawOptions, problems: string[], key: 'insecurePeers' | 'protectReads' | 'processMetrics', fallback: boolean): boolean {
  if (!given(o, key)) return fallback;
  const v = o[key];
  if (typeof v !== 'boolean') {
    problems.push(`option "${key}" must be a boolean, got ${show(v)}`);
    return fallback;
  }
  return v;
}

type IntegerOptionKey = 'maxPeerBodyBytes' | 'maxInFlightRequests' | 'maxQueueDelayMs' | 'maxSessions' | 'maxCommandBytes' | 'digestInterval' | 'maxEventLag';

function integerOption(o: RawOptions, problems: string[], key: IntegerOptionKey, fallback: number, min: number): number {
  if (!given(o, key)) return fallback;
  const v = o[key];
  if (!isPositiveInteger(v) || v < min) {
    problems.push(`option "${key}" must be an integer of at least ${min}, got ${show(v)}`);
    return fallback;
  }
  return v;
}

function checkUnknownOptions(o: RawOptions, problems: string[]): void {
  for (const key of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(key) && o[key] !== undefined) {
      problems.push(`unknown option "${key}"; known options: ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }
}

/** `memberId`, `join`, `members` and `advertiseUrl`. */
function readMembership(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'memberId' | 'members' | 'join' | 'advertiseUrl'> {
  const memberId = o.memberId;
  const memberIdOk = typeof memberId === 'string' && MEMBER_ID_PATTERN.test(memberId);
  if (!memberIdOk) {
    problems.push(`option "memberId" must be 1-64 characters of letters, digits, ".", "_" or "-" (starting with a letter or digit), got ${show(memberId)}`);
  }

  let join: string | null = null;
  if (given(o, 'join')) {
    const r = normaliseMemberUrl(o.join);
    if ('problem' in r) problems.push(`option "join" ${r.problem}`);
    else join = r.url;
  }
  const joining = given(o, 'join');

  const members = readMembers(o, problems, joining, memberIdOk ? memberId : null);
  const advertiseUrl = readAdvertiseUrl(o, problems, members, memberId, joining);
  return { memberId: memberId as string, members, join, advertiseUrl };
}

/** `members`; `memberId` is null when it is itself invalid (then its presence in the list is not checked). */
function readMembers(o: RawOptions, problems: string[], joining: boolean, memberId: string | null): RaftClusterMember[] {
  if (o.members === undefined) {
    if (!joining) problems.push('option "members" is required: an array of "id=url" strings or { id, url } objects (it may be empty only when "join" is set)');
    return [];
  }
  if (!Array.isArray(o.members)) {
    problems.push(`option "members" must be an array of "id=url" strings or { id, url } objects, got ${show(o.members)}`);
    return [];
  }
  const list: readonly unknown[] = o.members;
  if (list.length === 0 && !joining) {
    problems.push('option "members" must list at least one member (it may be empty only when "join" is set)');
  }
  const parsed = parseMemberList(list);
  problems.push(...parsed.problems);
  const ids = parsed.members.map((m) => m.id);
  if (memberId !== null && !joining && list.length > 0 && !ids.includes(memberId) && parsed.problems.length === 0) {
    problems.push(`option "memberId" ("${memberId}") must be one of "members" (${ids.join(', ')}) unless "join" is set`);
  }
  return parsed.members;
}

/** `advertiseUrl`: defaults to this member's entry in `members`; required when joining without one. */
function readAdvertiseUrl(o: RawOptions, problems: string[], members: RaftClusterMember[], memberId: unknown, joining: boolean): string {
  const own = members.find((m) => m.id === memberId);
  if (given(o, 'advertiseUrl')) {
    const r = normaliseMemberUrl(o.advertiseUrl);
    if ('problem' in r) problems.push(`option "advertiseUrl" ${r.problem}`);
    else if (own !== undefined && own.url !== r.url) {
      problems.push(`option "advertiseUrl" (${r.url}) differs from this member's entry in "members" (${own.url}); give one URL`);
    } else return r.url;
  } else if (own === undefined && joining) {
    problems.push('option "advertiseUrl" is required when "join" is set and "members" has no entry for "memberId": the URL at which the other members reach this node');
  }
  return own?.url ?? '';
}

/** The core needs heartbeat ticks below the minimum election ticks, at the runtime's tick size. */
function heartbeatFitsTicks(election: [number, number], heartbeat: number): boolean {
  const t = tickTiming(heartbeat, election);
  return t.heartbeatTicks < t.electionTicks[0];
}

/** `electionTimeout` and `heartbeatInterval`, and how they fit together. */
function readElectionTiming(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'electionTimeout' | 'heartbeatInterval'> {
  let electionTimeout: [number, number] = [...DEFAULT_ELECTION_TIMEOUT];
  let electionOk = true;
  if (given(o, 'electionTimeout')) {
    const et = o.electionTimeout;
    if (!Array.isArray(et) || et.length !== 2 || !isPositiveNumber(et[0]) || !isPositiveNumber(et[1]) || et[0] > et[1]) {
      problems.push(`option "electionTimeout" must be [min, max] in ms with 0 < min <= max, got ${show(et)}`);
      electionOk = false;
    } else electionTimeout = [et[0], et[1]];
  }
  let heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
  if (given(o, 'heartbeatInterval')) {
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
  return { electionTimeout, heartbeatInterval };
}

/** `requestTimeoutMs`: one peer request must end within the shortest election timeout. */
function readRequestTimeout(o: RawOptions, problems: string[], { electionTimeout, heartbeatInterval }: Pick<ResolvedRaftClusterOptions, 'electionTimeout' | 'heartbeatInterval'>): number {
  const fallback = Math.max(1, Math.min(electionTimeout[0] - heartbeatInterval, 100));
  if (!given(o, 'requestTimeoutMs')) return fallback;
  if (!isPositiveNumber(o.requestTimeoutMs)) {
    problems.push(`option "requestTimeoutMs" must be a positive number of ms, got ${show(o.requestTimeoutMs)}`);
  } else if (o.requestTimeoutMs >= electionTimeout[0]) {
    problems.push(`option "requestTimeoutMs" must be below electionTimeout min (${electionTimeout[0]} ms), got ${o.requestTimeoutMs}`);
  } else return o.requestTimeoutMs;
  return fallback;
}

/** `compactionThreshold` and `dataDir`. */
function readStorage(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'compactionThreshold' | 'dataDir'> {
  let compactionThreshold = DEFAULT_COMPACTION_THRESHOLD;
  if (given(o, 'compactionThreshold')) {
    if (!isPositiveInteger(o.compactionThreshold)) {
      problems.push(`option "compactionThreshold" must be a positive integer (entries applied between snapshots), got ${show(o.compactionThreshold)}`);
    } else compactionThreshold = o.compactionThreshold;
  }
  const dataDir = o.dataDir;
  if (typeof dataDir !== 'string' || dataDir.trim() === '') {
    problems.push(`option "dataDir" must be a folder path (or ":memory:" for tests), got ${show(dataDir)}`);
  }
  return { compactionThreshold, dataDir: dataDir as string };
}

/** `secret` and `insecurePeers`: one of them is required. Never shows the secret's value. */
function readPeerSecurity(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'secret' | 'insecurePeers'> {
  let secret: string | null = null;
  if (given(o, 'secret')) {
    if (typeof o.secret !== 'string') problems.push(`option "secret" must be a non-empty string, got a value of type ${typeof o.secret}`);
    else if (o.secret.length === 0) problems.push('option "secret" must be a non-empty string, got an empty string');
    else secret = o.secret;
  }
  const insecurePeers = booleanOption(o, problems, 'insecurePeers', false);
  if (!given(o, 'secret') && !insecurePeers) {
    problems.push('option "secret" is required (the shared peer secret every member uses); set insecurePeers: true to run without one, on trusted networks or in tests only');
  }
  return { secret, insecurePeers };
}

/** `adminToken` (default: the secret), `adminGuard` and `protectReads`. Never shows the token's value. */
function readAdminAccess(o: RawOptions, problems: string[], secret: string | null): Pick<ResolvedRaftClusterOptions, 'adminToken' | 'adminGuard' | 'protectReads'> {
  let adminToken: string | null = secret;
  if (given(o, 'adminToken')) {
    if (typeof o.adminToken !== 'string' || o.adminToken.length < 8) {
      problems.push(`option "adminToken" must be a string of at least 8 characters, got ${typeof o.adminToken === 'string' ? `one of ${o.adminToken.length}` : `a value of type ${typeof o.adminToken}`}`);
    } else adminToken = o.adminToken;
  }
  let adminGuard: Type<CanActivate> | CanActivate | null = null;
  if (given(o, 'adminGuard')) {
    const g = o.adminGuard;
    const isGuardClass = typeof g === 'function' && typeof (g as { prototype?: { canActivate?: unknown } }).prototype?.canActivate === 'function';
    const isGuardInstance = typeof g === 'object' && g !== null && typeof (g as { canActivate?: unknown }).canActivate === 'function';
    if (!isGuardClass && !isGuardInstance) problems.push(`option "adminGuard" must be a Nest guard (a class with canActivate, or an instance), got ${show(g)}`);
    else adminGuard = g as Type<CanActivate> | CanActivate;
  }
  const protectReads = booleanOption(o, problems, 'protectReads', false);
  return { adminToken, adminGuard, protectReads };
}

/** `peerPort`, `peerHost` (only with a port) and `maxPeerBodyBytes`. */
function readPeerServer(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'peerPort' | 'peerHost' | 'maxPeerBodyBytes'> {
  let peerPort: number | null = null;
  if (given(o, 'peerPort')) {
    const p = o.peerPort;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      problems.push(`option "peerPort" must be an integer port 1-65535, got ${show(p)}`);
    } else peerPort = p;
  }
  let peerHost = '0.0.0.0';
  if (given(o, 'peerHost')) {
    if (typeof o.peerHost !== 'string' || o.peerHost === '') problems.push(`option "peerHost" must be a bind address such as "0.0.0.0", got ${show(o.peerHost)}`);
    else if (peerPort === null) problems.push('option "peerHost" only makes sense with "peerPort"');
    else peerHost = o.peerHost;
  }
  const maxPeerBodyBytes = integerOption(o, problems, 'maxPeerBodyBytes', DEFAULT_MAX_PEER_BODY_BYTES, 1024);
  return { peerPort, peerHost, maxPeerBodyBytes };
}

/** `forwardTimeoutMs` and `shutdownTransferTimeoutMs` (default: twice the longest election timeout). */
function readHandOverTimeouts(o: RawOptions, problems: string[], electionTimeout: [number, number]): Pick<ResolvedRaftClusterOptions, 'forwardTimeoutMs' | 'shutdownTransferTimeoutMs'> {
  let forwardTimeoutMs = DEFAULT_FORWARD_TIMEOUT_MS;
  if (given(o, 'forwardTimeoutMs')) {
    if (!isPositiveNumber(o.forwardTimeoutMs)) problems.push(`option "forwardTimeoutMs" must be a positive number of ms, got ${show(o.forwardTimeoutMs)}`);
    else forwardTimeoutMs = o.forwardTimeoutMs;
  }
  let shutdownTransferTimeoutMs = 2 * electionTimeout[1];
  if (given(o, 'shutdownTransferTimeoutMs')) {
    const v = o.shutdownTransferTimeoutMs;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      problems.push(`option "shutdownTransferTimeoutMs" must be a number of ms >= 0 (0 skips the hand-over), got ${show(v)}`);
    } else shutdownTransferTimeoutMs = v;
  }
  return { forwardTimeoutMs, shutdownTransferTimeoutMs };
}

/** `maxInFlightRequests` and `maxQueueDelayMs`. */
function readLoadShedding(o: RawOptions, problems: string[]): Pick<ResolvedRaftClusterOptions, 'maxInFlightRequests' | 'maxQueueDelayMs'> {
  return {
    maxInFlightRequests: integerOption(o, problems, 'maxInFlightRequests', 1024, 1),
    maxQueueDelayMs: integerOption(o, problems, 'maxQueueDelayMs', 1000, 1),
  };
}

/** The CQRS bridge's options: sessions, command size, digests, idempotency headers, codec, `@LeaderOnly()` mode, event processors' window. */
function readCqrsBridge(
  o: RawOptions,
  problems: string[],
  compactionThreshold: number,
): Pick<ResolvedRaftClusterOptions, 'maxSessions' | 'maxCommandBytes' | 'digestInterval' | 'idempotencyHeaders' | 'codec' | 'leaderOnlyMode' | 'maxEventLag'> {
  const maxEventLag = integerOption(o, problems, 'maxEventLag', 10_000, 1);
  const maxSessions = integerOption(o, problems, 'maxSessions', 10_000, 1);
  const maxCommandBytes = integerOption(o, problems, 'maxCommandBytes', 1024 * 1024, 256);
  // A divergence is found at most this many entries after it happened: a few hundred at most by default.
  const digestInterval = integerOption(o, problems, 'digestInterval', Math.min(compactionThreshold, 256), 1);
  let idempotencyHeaders = ['idempotency-key'];
  if (given(o, 'idempotencyHeaders')) {
    const h = o.idempotencyHeaders;
    if (!Array.isArray(h) || h.length === 0 || !h.every((x) => typeof x === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(x))) {
      problems.push(`option "idempotencyHeaders" must be a non-empty array of header names such as ["idempotency-key"], got ${show(h)}`);
    } else idempotencyHeaders = [...new Set((h as string[]).map((x) => x.toLowerCase()))];
  }
  let codec: RaftPayloadCodec | null = null;
  if (given(o, 'codec')) {
    const c = o.codec as { encode?: unknown; decode?: unknown } | null;
    if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
      problems.push(`option "codec" must be an object with encode(value) and decode(value), got ${show(c)}`);
    } else codec = o.codec as RaftPayloadCodec;
  }
  let leaderOnlyMode: 'forward' | 'redirect' | 'reject' = 'forward';
  if (given(o, 'leaderOnlyMode')) {
    if (o.leaderOnlyMode !== 'forward' && o.leaderOnlyMode !== 'redirect' && o.leaderOnlyMode !== 'reject') {
      problems.push(`option "leaderOnlyMode" must be 'forward', 'redirect' or 'reject', got ${show(o.leaderOnlyMode)}`);
    } else leaderOnlyMode = o.leaderOnlyMode;
  }
  return { maxSessions, maxCommandBytes, digestInterval, idempotencyHeaders, codec, leaderOnlyMode, maxEventLag };
}

/**
 * Checks the module options and fills in defaults. Throws {@link RaftClusterOptionsError} listing every
 * problem, each naming the option and what is allowed. The secret's value never appears in a message.
 */
export function validateRaftClusterOptions(input: unknown): ResolvedRaftClusterOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new RaftClusterOptionsError([`options must be an object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`]);
  }
  const o = input as RawOptions;
  const problems: string[] = [];

  checkUnknownOptions(o, problems);
  const { memberId, members, join, advertiseUrl } = readMembership(o, problems);
  const { electionTimeout, heartbeatInterval } = readElectionTiming(o, problems);
  const requestTimeoutMs = readRequestTimeout(o, problems, { electionTimeout, heartbeatInterval });
  const { compactionThreshold, dataDir } = readStorage(o, problems);
  const { secret, insecurePeers } = readPeerSecurity(o, problems);
  const { adminToken, adminGuard, protectReads } = readAdminAccess(o, problems, secret);
  const processMetrics = booleanOption(o, problems, 'processMetrics', true);
  const { peerPort, peerHost, maxPeerBodyBytes } = readPeerServer(o, problems);
  const { forwardTimeoutMs, shutdownTransferTimeoutMs } = readHandOverTimeouts(o, problems, electionTimeout);
  const { maxInFlightRequests, maxQueueDelayMs } = readLoadShedding(o, problems);
  const { maxSessions, maxCommandBytes, digestInterval, idempotencyHeaders, codec, leaderOnlyMode, maxEventLag } = readCqrsBridge(o, problems, compactionThreshold);

  if (problems.length > 0) throw new RaftClusterOptionsError(problems);

  const initialMembers: Record<string, string> = {};
  if (!given(o, 'join')) for (const m of members) initialMembers[m.id] = m.url;
  return {
    memberId,
    members,
    initialMembers,
    join,
    advertiseUrl,
    electionTimeout,
    heartbeatInterval,
    compactionThreshold,
    dataDir,
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
    maxEventLag,
  };
}
