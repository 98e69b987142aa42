import { HTTP_PLATFORMS, HttpPlatform } from './http/http-platform';

/**
 * The sample apps' environment (SPEC section 4) turned into module options. Every problem names the
 * variable and what is allowed; the secret's value is never echoed.
 */
export interface RaftEnvOptions {
  memberId: string;
  members: string[];
  join?: string;
  advertiseUrl?: string;
  electionTimeout?: [number, number];
  heartbeatInterval?: number;
  compactionThreshold?: number;
  dataDir: string;
  secret?: string;
  /** ADMIN_TOKEN: bearer token of the membership and leadership endpoints (default: the secret). */
  adminToken?: string;
  insecurePeers: boolean;
}

export interface RaftEnv {
  port: number;
  host: string;
  /** HTTP_PLATFORM: `fastify` (default: it serves a command for about half Express's CPU) or `express`. */
  platform: HttpPlatform;
  raft: RaftEnvOptions;
}

export class EnvError extends Error {
  constructor(variable: string, problem: string) {
    super(`environment variable ${variable} ${problem}`);
    this.name = 'EnvError';
  }
}

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new EnvError(name, `must be a positive integer, got "${raw}"`);
  return n;
}

/** HTTP_PLATFORM alone: `fastify` when unset or empty. */
export function httpPlatform(env: NodeJS.ProcessEnv = process.env): HttpPlatform {
  const platform = env.HTTP_PLATFORM === undefined || env.HTTP_PLATFORM === '' ? 'fastify' : env.HTTP_PLATFORM;
  if (!(HTTP_PLATFORMS as readonly string[]).includes(platform)) {
    throw new EnvError('HTTP_PLATFORM', `must be ${HTTP_PLATFORMS.join(' or ')}, got "${platform.slice(0, 40)}"`);
  }
  return platform as HttpPlatform;
}

export function raftEnv(env: NodeJS.ProcessEnv = process.env): RaftEnv {
  const memberId = env.NODE_ID ?? '';
  if (memberId === '') throw new EnvError('NODE_ID', "is required (this member's id)");
  const port = positiveInt(env, 'PORT');
  if (port === undefined || port > 65535) throw new EnvError('PORT', 'is required, 1-65535');
  const host = env.HOST !== undefined && env.HOST !== '' ? env.HOST : '0.0.0.0';
  const members = (env.MEMBERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const join = env.JOIN !== undefined && env.JOIN !== '' ? env.JOIN : undefined;
  if (members.length === 0 && join === undefined) {
    throw new EnvError('MEMBERS', 'is required as id=url,id=url,... (or set JOIN=url-of-any-member to join a running cluster)');
  }
  for (const m of members) {
    if (!/^[^=\s]+=https?:\/\/\S+$/.test(m)) throw new EnvError('MEMBERS', `entry "${m}" is not id=http(s)://host:port`);
  }
  let electionTimeout: [number, number] | undefined;
  const et = env.ELECTION_TIMEOUT_MS;
  if (et !== undefined && et !== '') {
    const m = /^(\d+)-(\d+)$/.exec(et.trim());
    if (m === null || Number(m[1]) <= 0 || Number(m[1]) > Number(m[2])) {
      throw new EnvError('ELECTION_TIMEOUT_MS', `must be min-max in ms with 0 < min <= max, got "${et}"`);
    }
    electionTimeout = [Number(m[1]), Number(m[2])];
  }
  const insecurePeers = env.INSECURE_PEERS === '1' || env.INSECURE_PEERS === 'true';
  const secret = env.CLUSTER_SECRET !== undefined && env.CLUSTER_SECRET !== '' ? env.CLUSTER_SECRET : undefined;
  if (secret === undefined && !insecurePeers) {
    throw new EnvError('CLUSTER_SECRET', 'is required (the shared peer secret); set INSECURE_PEERS=1 to run without one');
  }
  const platform = httpPlatform(env);
  const self = members.find((m) => m.startsWith(`${memberId}=`));
  const advertise = env.ADVERTISE_URL !== undefined && env.ADVERTISE_URL !== '' ? env.ADVERTISE_URL : self?.slice(memberId.length + 1);
  return {
    port,
    host,
    platform,
    raft: {
      memberId,
      members: join !== undefined && self === undefined ? [] : members,
      join,
      advertiseUrl: advertise ?? `http://127.0.0.1:${port}`,
      electionTimeout,
      heartbeatInterval: positiveInt(env, 'HEARTBEAT_MS'),
      compactionThreshold: positiveInt(env, 'COMPACTION_THRESHOLD'),
      dataDir: env.DATA_DIR !== undefined && env.DATA_DIR !== '' ? env.DATA_DIR : `./data/${memberId}`,
      secret,
      ...(env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== '' ? { adminToken: env.ADMIN_TOKEN } : {}),
      insecurePeers,
    },
  };
}
