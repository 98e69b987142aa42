import type * as http from 'node:http';
import { createHmac } from 'node:crypto';
import { HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, PeerRequestHandler, ReplayCache, signPeerRequest, verifyPeerRequest } from '@raft-cqrs/raft/transport';

/** A Raft group's name: 1-64 characters of letters, digits, `.`, `_`, `-` (it is a path segment and a folder name). */
export const RAFT_GROUP_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Where a group's peer endpoints live on a node: `<member URL>/raft-groups/<group>`, so its frames go to
 * `/raft-groups/<group>/raft/stream`. Not under `/raft/` (the main group's handler answers 404 there),
 * and not under a path an app is likely to route.
 */
export const RAFT_GROUP_PEER_PREFIX = '/raft-groups';

/** The peer stream path of the groups' transports. */
const STREAM_PATH = '/raft/stream';
const EMPTY = Buffer.alloc(0);

export function isRaftGroupName(name: unknown): name is string {
  return typeof name === 'string' && RAFT_GROUP_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

/** The base URL a group's transport uses for a member URL (`http://host:port` -> `http://host:port/raft-groups/<group>`). */
export function groupPeerUrl(memberUrl: string, group: string): string {
  return `${memberUrl.replace(/\/+$/, '')}${RAFT_GROUP_PEER_PREFIX}/${encodeURIComponent(group)}`;
}

/**
 * The key of one group's peer traffic, derived from the cluster secret (HMAC-SHA256 with a label and
 * the group name): a stream signed for one group cannot be opened on another, even on the same path.
 * `null` (insecure mode) stays `null`.
 */
export function groupSecret(secret: string | null, group: string): string | null {
  if (secret === null) return null;
  return createHmac('sha256', secret).update(`raft-cqrs group peer key\n${group}`).digest('base64url');
}

export interface GroupPeerDispatcherOptions {
  /** The cluster secret; `null` = insecure mode. Each group is verified with {@link groupSecret}. */
  secret: string | null;
  /** The receiving handler of a group hosted here (made by `createPeerRequestHandler` with the group's key), or null. */
  handlerFor(group: string): PeerRequestHandler | null;
  /** Accepted clock difference between peers. Default 30 s (as the peer handler's). */
  windowMs?: number;
  now?: () => number;
}

function reject(res: http.ServerResponse, status: number, error: string, message: string, close = false): void {
  const body = JSON.stringify({ error, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
  res.end(body);
}

/**
 * One peer request handler for every group of this node, mounted (with `mountPeerHandler`) on the app's
 * server next to the main group's. It takes `POST /raft-groups/<group>/raft/stream`, and declines every
 * other path (returns false).
 *
 * Signatures: the sender signs the path it requests, prefix included; the group's handler
 * (`createPeerRequestHandler`) only knows `/raft/...` paths and verifies against `req.url`. So the
 * dispatcher verifies the stream's signed headers itself, against the full path and the group's key
 * (timestamp window, replay cache), then rewrites `req.url` to `/raft/stream` and re-signs the headers
 * for that path with the same key, timestamp and nonce before handing the request over. The stream
 * nonce, which every frame's MAC covers, is unchanged, so the group's handler still checks each frame
 * with the group's key: nothing reaches a group that was not signed for that group and that path.
 */
export function createGroupPeerDispatcher(opts: GroupPeerDispatcherOptions): PeerRequestHandler {
  const now = opts.now ?? Date.now;
  const replayCache = new ReplayCache();
  const prefix = `${RAFT_GROUP_PEER_PREFIX}/`;
  const handlers = new Set<PeerRequestHandler>();
  const dispatcher: PeerRequestHandler = (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith(prefix)) return false;
    const rest = url.slice(prefix.length);
    const slash = rest.indexOf('/');
    let group = '';
    try {
      group = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    } catch {
      group = '';
    }
    const inner = slash < 0 ? '' : rest.slice(slash);
    if (!isRaftGroupName(group)) {
      reject(res, 404, 'not_found', 'no such raft group endpoint', true);
      return true;
    }
    if (inner !== STREAM_PATH) {
      reject(res, 404, 'not_found', `no peer endpoint ${inner === '' ? '/' : inner.split('?')[0]} for groups (stream only)`, true);
      return true;
    }
    const handler = opts.handlerFor(group);
    if (handler === null) {
      reject(res, 404, 'unknown_group', `raft group ${group} is not hosted on this node (yet)`, true);
      return true;
    }
    if (req.method !== 'POST') {
      reject(res, 405, 'method_not_allowed', `${url} accepts POST only`, true);
      return true;
    }
    const key = groupSecret(opts.secret, group);
    if (key !== null) {
      const v = verifyPeerRequest(key, 'POST', url, req.headers, EMPTY, now(), { windowMs: opts.windowMs, replayCache });
      if (!v.ok) {
        reject(res, 401, 'unauthorized', 'peer request not authenticated', true);
        return true;
      }
      const resigned = signPeerRequest(key, 'POST', STREAM_PATH, EMPTY, Number(req.headers[HEADER_TIMESTAMP]), req.headers[HEADER_NONCE] as string);
      req.headers[HEADER_SIGNATURE] = resigned[HEADER_SIGNATURE];
    }
    req.url = STREAM_PATH;
    handlers.add(handler);
    return handler(req, res);
  };
  dispatcher.closeStreams = () => {
    for (const h of handlers) h.closeStreams?.();
    handlers.clear();
  };
  return dispatcher;
}
