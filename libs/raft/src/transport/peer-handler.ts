/**
 * Receiving side: a plain `(req, res) => boolean` handler for `POST /raft/messages` and
 * `POST /raft/stream`, to be put in front of the app's own router with `mountPeerHandler`, so
 * peer traffic skips the framework's middleware.
 */
import * as http from 'node:http';
import { Message } from '../core/types';
import { BatchDelivery } from './batch-delivery';
import { sendJsonError } from './error-reply';
import { StreamReceiver } from './incoming-stream';
import { describeError, TransportLogger } from './logging';
import { PEER_MESSAGES_PATH, PEER_STREAM_PATH, senderOf } from './peer-endpoints';
import { PeerRequestAuthenticator } from './request-authenticator';

export interface PeerRequestHandlerOptions {
  /** Cluster secret; `null` = insecure mode (no verification at all). */
  secret: string | null;
  /** Largest accepted body; beyond it `413`. Keep it at or above the senders' `maxBatchBytes`. */
  maxBodyBytes: number;
  /** Called with each authenticated, well-formed batch; `from` is the sender's id from its header. */
  onMessages(msgs: Message[], from: string | undefined): void;
  logger?: TransportLogger;
  /** When set, messages addressed to another node are dropped (for example after an address moved). */
  selfId?: string;
  /** Accepted clock difference between peers. Default 30 s. */
  windowMs?: number;
  /** Remembered signatures (replay protection). Default 100,000. */
  replayCacheSize?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Serves `POST /raft/command` (authenticated like every peer request): a follower forwarding a client's
   * command to the leader. Gets the raw body; its answer is sent as JSON. Without it the path is 404.
   */
  onCommand?: (body: Buffer, from: string | undefined) => Promise<{ status: number; body: unknown }>;
}

/** Where a follower forwards a client's command (see {@link PeerRequestHandlerOptions.onCommand}). */
export const PEER_COMMAND_PATH = '/raft/command';

export type PeerRequestHandler = ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) & {
  /**
   * Ends the open `/raft/stream` requests (their connections are closed), for example before the server
   * closes: `server.close()` waits for active requests, and a stream never ends by itself.
   * `mountPeerHandler`'s unmount calls it.
   */
  closeStreams?(): void;
};

/** What the handlers of the request endpoints (not the stream) share. */
interface RequestEndpoints {
  readonly opts: PeerRequestHandlerOptions;
  readonly auth: PeerRequestAuthenticator;
  readonly delivery: BatchDelivery;
}

/**
 * Handler for the Raft peer endpoints. Returns false, without touching anything, when the path is not
 * under `/raft/`; otherwise answers the request itself:
 * `POST /raft/messages` -> 204 (delivered), 401 (authentication), 413 (too large), 400 (undecodable);
 * other `/raft/` paths 404, other methods 405. A request that fails authentication or decoding never
 * reaches `onMessages`.
 */
export function createPeerRequestHandler(opts: PeerRequestHandlerOptions): PeerRequestHandler {
  const { secret, maxBodyBytes, logger } = opts;
  if (secret !== null && (typeof secret !== 'string' || secret === '')) {
    throw new TypeError('createPeerRequestHandler: secret must be a non-empty string, or null for insecure mode');
  }
  if (!(maxBodyBytes > 0)) throw new TypeError('createPeerRequestHandler: maxBodyBytes must be positive');
  const auth = new PeerRequestAuthenticator(secret, opts, logger);
  const delivery = new BatchDelivery(opts.onMessages, opts.selfId, logger);
  const streams = new StreamReceiver(secret, maxBodyBytes, auth, delivery, logger);
  const endpoints: RequestEndpoints = { opts, auth, delivery };

  const handler: PeerRequestHandler = (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/raft/')) return false;
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const isCommand = pathname === PEER_COMMAND_PATH && opts.onCommand !== undefined;
    if (pathname !== PEER_MESSAGES_PATH && pathname !== PEER_STREAM_PATH && !isCommand) {
      sendJsonError(res, 404, 'not_found', `no peer endpoint ${pathname}`);
      return true;
    }
    if (req.method !== 'POST') {
      sendJsonError(res, 405, 'method_not_allowed', `${pathname} accepts POST only`, { allow: 'POST' });
      return true;
    }
    if (pathname === PEER_STREAM_PATH) {
      try {
        streams.accept(req, res, url);
      } catch (e) {
        logger?.warn(`raft peer stream failed: ${describeError(e)}`);
        sendJsonError(res, 500, 'internal_error', 'peer request failed');
      }
      return true;
    }
    const pre = auth.precheck(req);
    if (!pre.ok) {
      auth.refuse(req, res, pre.reason);
      return true;
    }
    readBody(req, res, maxBodyBytes, (body) => {
      try {
        if (isCommand) receiveCommand(endpoints, req, res, url, body);
        else receiveMessages(endpoints, req, res, url, body);
      } catch (e) {
        logger?.warn(`raft peer request failed: ${describeError(e)}`);
        sendJsonError(res, 500, 'internal_error', 'peer request failed');
      }
    });
    return true;
  };
  handler.closeStreams = () => streams.closeAll();
  return handler;
}

/** Reads the whole body, or answers 413 as soon as it is over `maxBodyBytes` (declared or as it arrives). */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, maxBodyBytes: number, onBody: (body: Buffer) => void): void {
  const tooLarge = (): void => sendJsonError(res, 413, 'payload_too_large', `peer request body over the limit of ${maxBodyBytes} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBodyBytes) {
    tooLarge(); // Node discards the unread body after the response (the connection stays usable)
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let rejected = false;
  req.on('data', (chunk: Buffer) => {
    if (rejected) return; // discard the rest
    total += chunk.length;
    if (total > maxBodyBytes) {
      rejected = true;
      chunks.length = 0;
      tooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (rejected) return;
    onBody(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
  });
  req.on('error', () => {
    /* client went away: nothing was delivered */
  });
}

/** `POST /raft/messages`: one batch per request. */
function receiveMessages({ auth, delivery }: RequestEndpoints, req: http.IncomingMessage, res: http.ServerResponse, url: string, body: Buffer): void {
  const v = auth.verify(req, url, body);
  if (!v.ok) return auth.refuse(req, res, v.reason);
  const from = senderOf(req);
  if (typeof from === 'object') return sendJsonError(res, from.status, from.error, from.message);
  const rejection = delivery.deliver(body, from, 'request');
  if (rejection !== null) return sendJsonError(res, rejection.status, rejection.error, rejection.message);
  res.writeHead(204);
  res.end();
}

/** `POST /raft/command` (see {@link PeerRequestHandlerOptions.onCommand}). */
function receiveCommand({ opts, auth }: RequestEndpoints, req: http.IncomingMessage, res: http.ServerResponse, url: string, body: Buffer): void {
  const v = auth.verify(req, url, body);
  if (!v.ok) return auth.refuse(req, res, v.reason);
  const from = senderOf(req);
  if (typeof from === 'object') return sendJsonError(res, from.status, from.error, from.message);
  opts.onCommand!(body, from).then(
    (answer) => {
      if (res.headersSent || res.destroyed) return;
      const json = JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    },
    (e: unknown) => {
      opts.logger?.warn(`raft peer command failed: ${describeError(e)}`);
      sendJsonError(res, 500, 'internal_error', 'the node failed to take the command');
    },
  );
}
