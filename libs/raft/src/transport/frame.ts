/**
 * The frames of a `POST /raft/stream` request: each batch is one frame,
 * `[u32 BE payload length][payload = encodeMessages(batch)][16-byte MAC]`, with
 * MAC = first 16 bytes of HMAC-SHA256(secret, streamNonce || u64 BE frame sequence || payload), the
 * sequence starting at 0. So frames cannot be altered, replayed or reordered within a stream (the
 * stream itself cannot be replayed: its signed headers go through the replay cache).
 * Insecure mode (`secret: null`): the MAC field is 16 zero bytes, not checked.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Frame layout: u32 length + payload + MAC. */
export const FRAME_HEADER_BYTES = 4;
export const FRAME_MAC_BYTES = 16;

/** MAC of one stream frame (see the module comment); 16 zero bytes in insecure mode. */
export function frameMac(secret: string | null, streamNonce: string, seq: number, payload: Uint8Array): Buffer {
  if (secret === null) return Buffer.alloc(FRAME_MAC_BYTES);
  const seqBuf = Buffer.allocUnsafe(8);
  seqBuf.writeBigUInt64BE(BigInt(seq));
  return createHmac('sha256', secret).update(streamNonce, 'utf8').update(seqBuf).update(payload).digest().subarray(0, FRAME_MAC_BYTES);
}

/** One complete frame (header + payload + MAC) in a single buffer, ready for one write. */
export function encodeFrame(secret: string | null, streamNonce: string, seq: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length + FRAME_MAC_BYTES);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.set(frameMac(secret, streamNonce, seq, payload), FRAME_HEADER_BYTES + payload.length);
  return frame;
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Incremental parser of a frame stream: `push` chunks as they arrive (frames may be split anywhere or
 * several per chunk); it returns the payloads of the frames completed by that chunk, each checked (MAC
 * over nonce, expected sequence and payload; payload limit). It throws a {@link FrameError} on the
 * first bad frame and refuses everything after it.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private total = 0;
  private seq = 0;
  private failed = false;

  constructor(
    private readonly secret: string | null,
    private readonly streamNonce: string,
    private readonly maxPayloadBytes: number,
  ) {}

  /** Frames accepted so far. */
  get frames(): number {
    return this.seq;
  }

  /** Bytes of an incomplete frame waiting for more data. */
  get pending(): number {
    return this.total;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw new FrameError('stream already rejected', 400);
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.total += chunk.length;
    const out: Buffer[] = [];
    try {
      while (this.total >= FRAME_HEADER_BYTES) {
        const head = this.chunks[0].length >= FRAME_HEADER_BYTES ? this.chunks[0] : this.join();
        const len = head.readUInt32BE(0);
        if (len > this.maxPayloadBytes) throw new FrameError(`frame of ${len} bytes over the limit of ${this.maxPayloadBytes}`, 413);
        const need = FRAME_HEADER_BYTES + len + FRAME_MAC_BYTES;
        if (this.total < need) break;
        const buf = this.chunks[0].length >= need ? this.chunks[0] : this.join();
        const payload = buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len);
        if (this.secret !== null) {
          const given = buf.subarray(FRAME_HEADER_BYTES + len, need);
          const expected = frameMac(this.secret, this.streamNonce, this.seq, payload);
          if (!timingSafeEqualBuf(given, expected)) throw new FrameError(`frame ${this.seq}: MAC mismatch (altered, replayed or out of order)`, 400);
        }
        this.seq++;
        out.push(payload);
        if (buf.length === need) {
          this.chunks.shift();
        } else {
          this.chunks[0] = buf.subarray(need);
        }
        this.total -= need;
      }
    } catch (e) {
      this.failed = true;
      this.chunks = [];
      this.total = 0;
      throw e;
    }
    return out;
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.total);
    this.chunks = [all];
    return all;
  }
}

function timingSafeEqualBuf(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
