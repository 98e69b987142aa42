import { HEADER_SIGNATURE, ReplayCache, signPeerRequest, verifyPeerRequest } from '@raft-cqrs/raft/transport';

/**
 * A request one member makes to another on the cluster's behalf (a follower forwarding an admin request
 * it has already authorised, a node asking to join, a leader handing its own removal to the next one)
 * carries an HMAC over method, path, time, nonce and JSON body made with the cluster secret: the same
 * scheme as peer traffic, so the secret itself never travels. The body is signed as JSON text: the
 * receiver re-serialises what its body parser produced, which gives the sender's text back for any
 * body the sender made with JSON.stringify.
 */
function bodyBytes(body: unknown): Uint8Array {
  return body === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(body));
}

/** Headers proving that a member sent this request; none without a secret. */
export function memberProofHeaders(secret: string | null, method: string, path: string, body: unknown): Record<string, string> {
  return signPeerRequest(secret, method, path, bodyBytes(body), Date.now());
}

type HeaderBag = Record<string, string | string[] | undefined>;

export function hasMemberProof(headers: HeaderBag): boolean {
  return typeof headers[HEADER_SIGNATURE] === 'string';
}

/** Whether the request carries a valid, fresh, first-seen member proof. False without a secret. */
export function verifyMemberProof(secret: string | null, method: string, path: string, headers: HeaderBag, body: unknown, replay: ReplayCache): boolean {
  if (secret === null || !hasMemberProof(headers)) return false;
  return verifyPeerRequest(secret, method, path, headers, bodyBytes(body), Date.now(), { replayCache: replay }).ok;
}
