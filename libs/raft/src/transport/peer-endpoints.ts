/** What a sender and a receiver of peer traffic agree on besides the codec, the frames and the signatures. */
import type * as http from 'node:http';
import type { Rejection } from './error-reply';

export const PEER_MESSAGES_PATH = '/raft/messages';
export const PEER_STREAM_PATH = '/raft/stream';
/** Header naming the sender (URI-encoded node id). Checked against the (authenticated) messages' `from`. */
export const HEADER_FROM = 'x-raft-from';
/** A stream's headers are signed over an empty body: its frames carry their own MACs. */
export const STREAM_SIGNED_BODY = Buffer.alloc(0);

/** The sender named by the {@link HEADER_FROM} header: undefined without one, a Rejection when malformed. */
export function senderOf(req: http.IncomingMessage): string | undefined | Rejection {
  const fromHeader = req.headers[HEADER_FROM];
  if (typeof fromHeader !== 'string') return undefined;
  try {
    return decodeURIComponent(fromHeader);
  } catch {
    return { status: 400, error: 'bad_request', message: `malformed ${HEADER_FROM} header` };
  }
}
