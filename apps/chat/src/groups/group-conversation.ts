import { FORWARDED_HEADER, LeaderUnavailableError, RaftGroup, RaftGroupStatus, RelayedAnswer } from '@raft-cqrs/raft-cluster/groups';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConversationSummary } from '../conversation/conversation.service';
import { MessagePage } from '../list-messages/list-messages.query';
import { PostMessageResult } from '../post-message/post-message.command';
import { PostMessageInput } from '../post-message/post-message.input';
import { MessageStreamHub } from '../stream-messages/message-stream.hub';
import { SseSink, SseSubscriber } from '../stream-messages/sse-subscriber';
import { encodeGroupPost, GroupStateMachine } from './group-state-machine';

/** Request headers a forwarded v2 request keeps. */
const PASSED_HEADERS = ['idempotency-key', 'x-request-id', 'content-type'];

export type GroupNodeStatus = RaftGroupStatus & { chat: ConversationSummary };

function isForwarded(headers: IncomingHttpHeaders): boolean {
  return headers[FORWARDED_HEADER] !== undefined;
}

function passed(headers: IncomingHttpHeaders, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of PASSED_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string') out[h] = v;
  }
  return { ...out, ...extra };
}

/**
 * The chat use cases of one conversation group on its own Raft group (v2): the same as v1's
 * ConversationService, with the group's leader in place of the main one. A write made on a follower
 * is forwarded to the group's leader at the same v2 path (`x-raft-forwarded: 1`, never forwarded
 * twice) and its answer relayed.
 */
export class GroupConversation {
  constructor(
    readonly name: string,
    readonly raft: RaftGroup,
    readonly state: GroupStateMachine,
    readonly streams: MessageStreamHub,
    private readonly paths: { apiPath(suffix: string): string; forwardTimeoutMs: number },
  ) {}

  /**
   * Posts through this group's log: proposed here on the group leader, else forwarded to it at the same
   * v2 path; the group retries at the leader of the moment after a leader change. The entry (with its
   * request id) is made once, so every try is the same post and it is stored at most once. `body` is the
   * client's JSON, passed on as it came when forwarded.
   */
  async post(input: PostMessageInput, body: unknown, requestId: string | null, headers: IncomingHttpHeaders): Promise<PostMessageResult> {
    const forwarded = isForwarded(headers);
    // A forward that is retried after a lost answer must not store the message twice: fix the request id here.
    const r = requestId ?? (forwarded ? null : randomUUID());
    const entry = encodeGroupPost({
      v: 1,
      k: 'post',
      r,
      ts: Date.now(),
      id: randomUUID(),
      m: { conv_id: input.convId, sender: input.sender, payload: input.payload, vector_clock: input.vectorClock, msg_id: input.msgId },
    });
    await this.raft.waitForLeader();
    return this.raft.submit({
      here: async () => (await this.raft.propose(entry)).result as PostMessageResult,
      atLeader: async () => {
        if (forwarded) throw this.raft.notLeader('this request was forwarded here as to the group leader, but this node does not lead it; retry');
        const answer = await this.raft.forwardToLeader('POST', this.paths.apiPath('/message'), body, passed(headers, r !== null ? { 'idempotency-key': r } : {}));
        // The leader moved on between our look and its answer: the group asks the next one (the request id makes it safe).
        if (answer.status === 503) throw new LeaderUnavailableError(`the group leader answered 503`);
        throw new RelayedAnswer(answer);
      },
    });
  }

  /** This node's copy (after a ReadIndex barrier of the group when `linearizable`). */
  async list(from: number, limit: number, linearizable: boolean): Promise<MessagePage> {
    if (linearizable) await this.raft.readBarrier();
    const messages = this.state.log.after(from - 1, limit);
    const next = messages.length === 0 ? from : messages[messages.length - 1].commit_index + 1;
    return { messages, next_from: next, evicted_through: this.state.log.evictedThrough };
  }

  stream(sink: SseSink, startAfter: number, beforeStart?: () => void): SseSubscriber {
    return this.streams.open(sink, startAfter, beforeStart);
  }

  summary(): ConversationSummary {
    const log = this.state.log;
    return {
      messages: log.size,
      bytes: log.totalBytes,
      first_index: log.firstIndex,
      last_index: log.lastIndex,
      evicted_through: log.evictedThrough,
      streams: this.streams.clientCount,
    };
  }

  status(): GroupNodeStatus {
    return { ...this.raft.status(), chat: this.summary() };
  }

  /**
   * Runs a change of this group's configuration or leadership on its leader: here, or forwarded to it
   * at the same v2 path (never twice). Returns the answer to relay, or throws one.
   */
  async onLeader<T>(method: string, suffix: string, body: unknown, headers: IncomingHttpHeaders, run: () => Promise<T>): Promise<T> {
    await this.raft.waitForLeader();
    if (this.raft.isLeader) return run();
    if (isForwarded(headers)) throw this.raft.notLeader();
    throw new RelayedAnswer(await this.raft.forwardToLeader(method, this.paths.apiPath(suffix), body, passed(headers)));
  }

  close(): void {
    this.streams.onModuleDestroy();
  }
}
