/**
 * Cluster members: what an id and a URL may be, and the parsing of the `members` list
 * (`'id=url'` strings or `{ id, url }` objects). Also used by the membership endpoints and by groups.
 */
import { show } from './option-values';

/** A member as given in `members`: `'id=url'` or `{ id, url }`. */
export interface RaftClusterMember {
  id: string;
  /** Where the other members reach it (and where clients are sent when it leads): `http(s)://host:port`. */
  url: string;
}

export const MEMBER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

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

/** One entry of `members` (at position `i`) as a member with a normalised URL, or the problem with it. */
function parseMemberEntry(m: unknown, i: number): RaftClusterMember | { problem: string } {
  let id: unknown;
  let url: unknown;
  if (typeof m === 'string') {
    const eq = m.indexOf('=');
    if (eq <= 0) return { problem: `option "members"[${i}] must be "id=url" (for example "node1=http://10.0.0.1:3000"), got ${show(m)}` };
    id = m.slice(0, eq).trim();
    url = m.slice(eq + 1).trim();
  } else if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
    id = (m as Record<string, unknown>).id;
    url = (m as Record<string, unknown>).url;
  } else {
    return { problem: `option "members"[${i}] must be an "id=url" string or an { id, url } object, got ${show(m)}` };
  }
  if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) {
    return { problem: `option "members"[${i}] has id ${show(id)}: ids are 1-64 characters of letters, digits, ".", "_" or "-"` };
  }
  const r = normaliseMemberUrl(url);
  if ('problem' in r) return { problem: `option "members"[${i}] (${id}): the URL ${r.problem}` };
  return { id, url: r.url };
}

/**
 * Parses the entries of `members`: the valid, distinct members in order, and one problem per entry
 * that is malformed or repeats an id or a URL already listed (that entry is left out).
 */
export function parseMemberList(list: readonly unknown[]): { members: RaftClusterMember[]; problems: string[] } {
  const members: RaftClusterMember[] = [];
  const problems: string[] = [];
  const ids = new Set<string>();
  const urls = new Map<string, string>();
  list.forEach((entry, i) => {
    const m = parseMemberEntry(entry, i);
    if ('problem' in m) {
      problems.push(m.problem);
      return;
    }
    if (ids.has(m.id)) {
      problems.push(`option "members" lists the id "${m.id}" more than once; ids must be unique`);
      return;
    }
    const other = urls.get(m.url);
    if (other !== undefined) {
      problems.push(`option "members" gives "${m.id}" and "${other}" the same URL ${m.url}; every member needs its own`);
      return;
    }
    ids.add(m.id);
    urls.set(m.url, m.id);
    members.push(m);
  });
  return { members, problems };
}
