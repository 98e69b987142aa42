import { VectorClock } from '../domain/chat-message';
import { BadFieldException } from '../http/bad-field.exception';

/** A message as a client asks to post it (validated). */
export interface PostMessageInput {
  convId: string;
  sender: string;
  payload: string;
  vectorClock: VectorClock;
  /** The client's id for the message; a repeat of a stored one is not stored again. */
  msgId: string | null;
}

export const DEFAULT_CONVERSATION = 'general';
export const MAX_NAME_CHARS = 128;
export const MAX_PAYLOAD_BYTES = 64 * 1024;
export const MAX_CLOCK_ENTRIES = 64;
export const MSG_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function name(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > MAX_NAME_CHARS) {
    throw new BadFieldException(field, `field "${field}" must be a string of 1-${MAX_NAME_CHARS} characters`);
  }
  return v;
}

function payload(v: unknown): string {
  if (typeof v !== 'string') throw new BadFieldException('payload', 'field "payload" must be a string');
  if (Buffer.byteLength(v) > MAX_PAYLOAD_BYTES) {
    throw new BadFieldException('payload', `field "payload" is over ${MAX_PAYLOAD_BYTES} bytes (UTF-8)`);
  }
  return v;
}

function vectorClock(v: unknown): VectorClock {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new BadFieldException('vector_clock', 'field "vector_clock" must be an object of node -> counter');
  const keys = Object.keys(v);
  if (keys.length > MAX_CLOCK_ENTRIES) throw new BadFieldException('vector_clock', `field "vector_clock" has over ${MAX_CLOCK_ENTRIES} entries`);
  // A fresh object without a prototype chain: "__proto__" from JSON stays a plain key.
  const clock: VectorClock = Object.create(null) as VectorClock;
  for (const k of keys) {
    const n = v[k];
    if (k.length < 1 || k.length > MAX_NAME_CHARS) {
      throw new BadFieldException('vector_clock', `field "vector_clock": keys must be 1-${MAX_NAME_CHARS} characters`);
    }
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new BadFieldException('vector_clock', `field "vector_clock": the value of "${k.slice(0, 40)}" must be a non-negative integer`);
    }
    clock[k] = n;
  }
  return { ...clock };
}

function msgId(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !MSG_ID_PATTERN.test(v)) {
    throw new BadFieldException('msg_id', 'field "msg_id" must be 1-128 characters of letters, digits, ".", "_", ":" or "-"');
  }
  return v;
}

/**
 * `{ conv_id?, sender, payload, vector_clock?, msg_id? }` -> input, or a 400 naming the first bad
 * field. `conv_id` defaults to `general`; unknown fields are ignored.
 */
export function parsePostMessage(body: unknown): PostMessageInput {
  if (!isObject(body)) throw new BadFieldException('body', 'the body must be a JSON object { conv_id, sender, payload, vector_clock?, msg_id? }');
  return {
    convId: body.conv_id === undefined ? DEFAULT_CONVERSATION : name('conv_id', body.conv_id),
    sender: name('sender', body.sender),
    payload: payload(body.payload),
    vectorClock: vectorClock(body.vector_clock),
    msgId: msgId(body.msg_id),
  };
}
