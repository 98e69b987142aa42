/**
 * One long-lived chunked `POST /raft/stream` to a peer. Its headers are signed like any peer request
 * (over {@link STREAM_SIGNED_BODY}); then each batch is one frame (see ./frame), written with one
 * `req.write` (one syscall). The receiver accepts the stream with an interim `102 Processing`, never
 * answers finally until the stream ends (204), and closes it (400/413/500) on the first bad frame,
 * delivering nothing from that frame on. One write in flight: what is queued meanwhile leaves as the
 * next frame.
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { signPeerRequest } from './auth';
import { encodeFrame } from './frame';
import { describeError } from './logging';
import { HEADER_FROM, STREAM_SIGNED_BODY } from './peer-endpoints';

/** Where and how to open a peer's stream. */
export interface StreamTarget {
  readonly request: typeof http.request;
  readonly agent: http.Agent;
  readonly hostname: string;
  readonly port: number;
  /** The stream path, with the peer URL's path prefix. */
  readonly path: string;
}

export interface OutgoingStreamEvents {
  /** The receiver authenticated the stream (its interim 102). */
  accepted(): void;
  /** A frame was handed to the kernel: the next one may be written. */
  written(): void;
  /** The stream broke (reported once, never after {@link OutgoingStream.close}); `unsent` messages were in the frame being written. */
  failed(reason: string, unsent: number): void;
}

export class OutgoingStream {
  readonly nonce = randomBytes(16).toString('base64url');
  private seq = 0;
  /** A frame write not yet handed to the kernel: what is queued meanwhile waits for the next frame. */
  private writing = false;
  /** Messages in the frame being written (counted as dropped if the stream breaks before it is done). */
  private writingCount = 0;
  private writeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly req: http.ClientRequest;

  /** Sends the headers at once. Throws when the request cannot even be made. */
  constructor(
    target: StreamTarget,
    private readonly secret: string | null,
    fromHeader: string,
    /** Bounds each frame write. */
    private readonly writeTimeoutMs: number,
    private readonly events: OutgoingStreamEvents,
  ) {
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      [HEADER_FROM]: fromHeader,
      ...signPeerRequest(secret, 'POST', target.path, STREAM_SIGNED_BODY, Date.now(), this.nonce),
    };
    const req = target.request({ agent: target.agent, hostname: target.hostname, port: target.port, path: target.path, method: 'POST', headers });
    this.req = req;
    req.on('information', (info) => {
      if (info.statusCode !== 102 || this.closed) return;
      this.events.accepted();
    });
    req.on('response', (res) => this.readFinalAnswer(res));
    req.on('error', (e) => this.fail(describeError(e)));
    req.on('close', () => this.fail('stream closed'));
    req.flushHeaders();
  }

  /** A frame is being written: wait for {@link OutgoingStreamEvents.written} before the next one. */
  get busy(): boolean {
    return this.writing;
  }

  /** Writes one encoded batch of `count` messages as the next frame. */
  write(payload: Buffer, count: number): void {
    const frame = encodeFrame(this.secret, this.nonce, this.seq++, payload);
    this.writing = true;
    this.writingCount = count;
    this.writeTimer = setTimeout(() => this.fail(`frame write timeout after ${this.writeTimeoutMs} ms`), this.writeTimeoutMs);
    this.req.write(frame, (err) => {
      if (this.closed) return;
      if (this.writeTimer) clearTimeout(this.writeTimer);
      this.writeTimer = null;
      if (err) {
        this.fail(describeError(err));
        return;
      }
      this.writing = false;
      this.writingCount = 0;
      this.events.written();
    });
  }

  /** Ends the stream without reporting it as failed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    this.req.destroy();
  }

  /** A final answer only ever comes when the receiver ends the stream: it is always a failure. */
  private readFinalAnswer(res: http.IncomingMessage): void {
    const status = res.statusCode ?? 0;
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (text.length < 300) text += chunk;
    });
    res.on('error', () => undefined);
    res.on('end', () => {
      let detail = text.slice(0, 200);
      try {
        const j = JSON.parse(text) as { error?: unknown };
        if (typeof j.error === 'string') detail = j.error;
      } catch {
        /* not JSON: keep the text */
      }
      this.fail(`stream ended: HTTP ${status}${detail ? ` ${detail}` : ''}${status === 401 ? ' (check the cluster secret)' : ''}`);
    });
  }

  private fail(reason: string): void {
    if (this.closed) return;
    const unsent = this.writing ? this.writingCount : 0;
    this.close();
    this.events.failed(reason, unsent);
  }
}
