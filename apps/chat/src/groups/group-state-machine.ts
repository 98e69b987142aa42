import { HttpException } from '@nestjs/common';
import type { ApplyContext, Entry, StateMachine } from '@raft-cqrs/raft';
import { createHash } from 'node:crypto';
import { ChatMessage, VectorClock } from '../domain/chat-message';
import { MessageLog, MessageLogLimits } from '../domain/message-log';
import { PostMessageResult } from '../post-message/post-message.command';
import { parsePostMessage } from '../post-message/post-message.input';

/** One entry of a group's log: a message to post, with what the group leader fixed at proposal. */
export interface GroupPostEntry {
  v: 1;
  k: 'post';
  /** The request id (client's Idempotency-Key, or one the first node chose); null: none. */
  r: string | null;
  /** The group leader's clock at proposal. */
  ts: number;
  /** The msg_id used when the client gave none (a UUID drawn by the group leader). */
  id: string;
  m: { conv_id: string; sender: string; payload: string; vector_clock: VectorClock; msg_id: string | null };
}

type Outcome = { ok: true; result: PostMessageResult } | { ok: false; status: number; body: Record<string, unknown> };

interface RequestRecord {
  /** Hash of the entry's message, to tell a retry from a reuse of the key. */
  h: string;
  o: Outcome;
}

interface GroupStateSnapshot {
  version: 1;
  log: ReturnType<MessageLog['snapshot']>;
  requests: [string, RequestRecord][];
}

/** Request ids remembered per group (the oldest forgotten first, at the same index on every node). */
export const MAX_GROUP_REQUESTS = 10_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encodeGroupPost(entry: GroupPostEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry));
}

function hashOf(m: GroupPostEntry['m']): string {
  return createHash('sha256').update(JSON.stringify([m.conv_id, m.sender, m.payload, m.vector_clock, m.msg_id])).digest('base64url').slice(0, 22);
}

/**
 * The replicated state of one conversation group's Raft group: its MessageLog (as v1's, one per
 * group) plus a bounded table of request ids, so a retried request (a lost answer, a forward retried
 * after a leader change) is answered with its first outcome instead of being applied twice. Apply is
 * deterministic: everything comes from the entry (its index, the leader's ts and id).
 */
export class GroupStateMachine implements StateMachine {
  readonly log: MessageLog;
  private readonly requests = new Map<string, RequestRecord>();

  constructor(
    readonly group: string,
    limits: MessageLogLimits,
    private readonly maxRequests = MAX_GROUP_REQUESTS,
  ) {
    this.log = new MessageLog(limits);
  }

  get requestCount(): number {
    return this.requests.size;
  }

  apply(entry: Entry, ctx: ApplyContext): PostMessageResult {
    let e: GroupPostEntry;
    try {
      e = JSON.parse(decoder.decode(entry.data)) as GroupPostEntry;
    } catch {
      throw new HttpException({ error: 'bad_entry', message: `group ${this.group}: entry ${ctx.index} is not JSON` }, 500);
    }
    if (e === null || typeof e !== 'object' || e.v !== 1 || e.k !== 'post' || typeof e.m !== 'object' || e.m === null) {
      throw new HttpException({ error: 'bad_entry', message: `group ${this.group}: entry ${ctx.index} is not a post` }, 500);
    }
    const hash = hashOf(e.m);
    if (typeof e.r === 'string') {
      const seen = this.requests.get(e.r);
      if (seen !== undefined) {
        if (seen.h !== hash) throw new HttpException({ error: 'idempotency_key_reused', message: 'this request id was used for another message' }, 422);
        return settle(seen.o);
      }
    }
    const outcome = this.post(e, ctx.index);
    if (typeof e.r === 'string') {
      this.requests.set(e.r, { h: hash, o: outcome });
      while (this.requests.size > this.maxRequests) this.requests.delete(this.requests.keys().next().value as string);
    }
    return settle(outcome);
  }

  private post(e: GroupPostEntry, index: number): Outcome {
    let input: ReturnType<typeof parsePostMessage>;
    try {
      // The first node validated it already; this guards the log against any other writer, with the same 400 everywhere.
      input = parsePostMessage({ conv_id: e.m.conv_id, sender: e.m.sender, payload: e.m.payload, vector_clock: e.m.vector_clock, msg_id: e.m.msg_id });
    } catch (err) {
      if (err instanceof HttpException) return { ok: false, status: err.getStatus(), body: err.getResponse() as Record<string, unknown> };
      throw err;
    }
    if (input.msgId !== null) {
      const stored = this.log.findByMsgId(input.msgId);
      if (stored !== undefined) return { ok: true, result: { message: stored, duplicate: true } };
    }
    const message: ChatMessage = {
      msg_id: input.msgId ?? String(e.id),
      conv_id: input.convId,
      sender: input.sender,
      payload: input.payload,
      vector_clock: input.vectorClock,
      commit_index: index,
      ts: Number(e.ts),
    };
    // An id drawn by the leader that a client already used as msg_id: answer that message, as a repeat would.
    const clash = this.log.findByMsgId(message.msg_id);
    if (clash !== undefined) return { ok: true, result: { message: clash, duplicate: true } };
    this.log.append(message);
    return { ok: true, result: { message, duplicate: false } };
  }

  snapshot(): Uint8Array {
    const s: GroupStateSnapshot = { version: 1, log: this.log.snapshot(), requests: [...this.requests.entries()] };
    return encoder.encode(JSON.stringify(s));
  }

  restore(data: Uint8Array): void {
    this.requests.clear();
    if (data.length === 0) {
      this.log.restore(null);
      return;
    }
    const s = JSON.parse(decoder.decode(data)) as Partial<GroupStateSnapshot>;
    if (s.version !== 1 || !Array.isArray(s.requests)) throw new Error(`group ${this.group}: the snapshot is not a version 1 group state`);
    this.log.restore(s.log);
    for (const [k, v] of s.requests) this.requests.set(k, v);
  }
}

function settle(o: Outcome): PostMessageResult {
  if (o.ok) return o.result;
  throw new HttpException(o.body, o.status);
}
