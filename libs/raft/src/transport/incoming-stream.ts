/**
 * The receiving end of `POST /raft/stream` (see ./outgoing-stream for the sender). The signed headers
 * are checked before anything else; then the stream is accepted with an interim `102 Processing` and
 * each frame is delivered as it completes. The final answer comes only when the sender ends the stream
 * (204), or on the first bad frame (400/413/500, then the connection is closed): nothing from that
 * frame on is delivered.
 */
import * as http from 'node:http';
import { HEADER_NONCE } from './auth';
import { BatchDelivery } from './batch-delivery';
import { Rejection, sendJsonError } from './error-reply';
import { FrameError, FrameParser } from './frame';
import { TransportLogger } from './logging';
import { senderOf, STREAM_SIGNED_BODY } from './peer-endpoints';
import { PeerRequestAuthenticator } from './request-authenticator';

/** Accepts streams and remembers the open ones, so that they can be ended. */
export class StreamReceiver {
  private readonly open = new Set<http.IncomingMessage>();

  constructor(
    private readonly secret: string | null,
    private readonly maxFrameBytes: number,
    private readonly auth: PeerRequestAuthenticator,
    private readonly delivery: BatchDelivery,
    private readonly logger?: TransportLogger,
  ) {}

  accept(req: http.IncomingMessage, res: http.ServerResponse, url: string): void {
    const v = this.auth.verify(req, url, STREAM_SIGNED_BODY);
    if (!v.ok) {
      res.setHeader('connection', 'close'); // the body would never end: do not wait for it
      this.auth.refuse(req, res, v.reason);
      return;
    }
    const nonce = this.secret === null ? '' : (req.headers[HEADER_NONCE] as string);
    const from = senderOf(req);
    if (typeof from === 'object') return sendJsonError(res, from.status, from.error, from.message);
    // A long-lived request: no idle timeout on its socket (server.requestTimeout: see mountPeerHandler).
    req.setTimeout(0);
    res.setTimeout(0);
    const parser = new FrameParser(this.secret, nonce, this.maxFrameBytes);
    this.open.add(req);
    res.on('close', () => this.open.delete(req));
    new IncomingStream(req, res, from, parser, this.delivery, this.logger).listen();
    // Accepted: tell the sender now (an interim answer; the final one comes when the stream ends).
    res.writeProcessing();
  }

  /** Closes the connections of the open streams. */
  closeAll(): void {
    for (const req of this.open) req.socket.destroy();
    this.open.clear();
  }
}

/** One accepted stream, from its first frame to its end. */
class IncomingStream {
  private failed = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly from: string | undefined,
    private readonly parser: FrameParser,
    private readonly delivery: BatchDelivery,
    private readonly logger?: TransportLogger,
  ) {}

  listen(): void {
    this.req.on('data', (chunk: Buffer) => this.receive(chunk));
    this.req.on('end', () => this.end());
    this.req.on('error', () => {
      /* sender went away: frames already delivered stay delivered */
    });
  }

  private receive(chunk: Buffer): void {
    if (this.failed) return;
    let payloads: Buffer[];
    try {
      payloads = this.parser.push(chunk);
    } catch (e) {
      this.failed = true;
      if (!(e instanceof FrameError)) throw e;
      this.close({ status: e.status, error: e.status === 413 ? 'payload_too_large' : 'bad_frame', message: e.message });
      return;
    }
    for (const payload of payloads) {
      const rejection = this.delivery.deliver(payload, this.from, 'stream');
      if (rejection !== null) {
        this.failed = true;
        this.close(rejection);
        return;
      }
    }
  }

  private end(): void {
    if (this.failed) return;
    if (this.parser.pending > 0) {
      this.failed = true;
      this.close({ status: 400, error: 'bad_frame', message: `stream ended inside a frame (${this.parser.pending} bytes)` });
      return;
    }
    this.res.writeHead(204);
    this.res.end();
  }

  /** Closes the stream after a bad frame: the answer, then the connection (the body never ends by itself). */
  private close(r: Rejection): void {
    const { req, res } = this;
    this.logger?.warn(`raft peer stream from ${this.from ?? req.socket.remoteAddress ?? '?'} closed: ${r.message}`);
    req.removeAllListeners('data');
    req.on('data', () => undefined);
    const socket = req.socket;
    if (res.headersSent) socket.destroy();
    else sendJsonError(res, r.status, r.error, r.message, { connection: 'close' }, () => socket.destroy());
  }
}
