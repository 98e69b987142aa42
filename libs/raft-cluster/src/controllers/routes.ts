import { RaftClusterOptionsError } from '../options/options-error';

/**
 * Where the module serves its routes: a path for each group, or `false` to leave the group out. Apps
 * that already serve `/metrics` or `/health` move ours aside; the app's global prefix applies on top.
 */
export interface RaftClusterRoutes {
  /** Status, its stream, the cluster view, membership and leadership transfer. Default `'cluster'`. */
  cluster?: string | false;
  /** `live` and `ready`. Default `'health'`. */
  health?: string | false;
  /** The Prometheus text. Default `'metrics'`. */
  metrics?: string | false;
}

/** Route prefixes without slashes at either end; null: not served. */
export interface ResolvedRaftClusterRoutes {
  cluster: string | null;
  health: string | null;
  metrics: string | null;
}

export const RAFT_CLUSTER_ROUTES = Symbol('RAFT_CLUSTER_ROUTES');

export const DEFAULT_ROUTES: ResolvedRaftClusterRoutes = { cluster: 'cluster', health: 'health', metrics: 'metrics' };

const SEGMENTS = /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;

function isRoutePath(p: string): boolean {
  return SEGMENTS.test(p) && !p.split('/').some((segment) => /^\.+$/.test(segment));
}

export function resolveRoutes(raw: unknown): ResolvedRaftClusterRoutes {
  if (raw === undefined || raw === null) return DEFAULT_ROUTES;
  const problems: string[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new RaftClusterOptionsError(['option "routes" must be an object { cluster?, health?, metrics? }']);
  const given = raw as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!(key in DEFAULT_ROUTES)) problems.push(`option "routes.${key}" is not known (allowed: cluster, health, metrics)`);
  const resolved = { ...DEFAULT_ROUTES };
  for (const key of Object.keys(DEFAULT_ROUTES) as (keyof ResolvedRaftClusterRoutes)[]) {
    const v = given[key];
    if (v === undefined) continue;
    if (v === false) resolved[key] = null;
    else if (typeof v === 'string' && isRoutePath(v.replace(/^\/+|\/+$/g, ''))) resolved[key] = v.replace(/^\/+|\/+$/g, '');
    else problems.push(`option "routes.${key}" must be a path such as "${DEFAULT_ROUTES[key]}" or "ops/${DEFAULT_ROUTES[key]}", or false to turn the routes off; got ${JSON.stringify(v)}`);
  }
  const taken = Object.values(resolved).filter((p): p is string => p !== null);
  if (new Set(taken).size !== taken.length) problems.push(`option "routes": two groups share one path (${taken.join(', ')})`);
  if (problems.length > 0) throw new RaftClusterOptionsError(problems);
  return resolved;
}
