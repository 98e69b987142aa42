import { Inject, Injectable } from '@nestjs/common';
import { ReplicatedState, ReplicatedStateStore } from '@raft-cqrs/raft-cluster';
import { Observable, Subject } from 'rxjs';
import { CHAT_OPTIONS, ChatOptions } from '../chat.options';
import { ChatMessage, messageBytes } from './chat-message';

export type MessageLogLimits = Pick<ChatOptions, 'maxMessages' | 'maxLogBytes'>;

/** `appended`: one message was added; `reset`: the whole log was replaced (snapshot restore). */
export type MessageLogChange = { type: 'appended'; message: ChatMessage } | { type: 'reset' };

interface MessageLogSnapshot {
  version: 1;
  evictedThrough: number;
  messages: ChatMessage[];
}

/** Where slicing the array beats shifting it: the head is compacted away past this many dead slots. */
const COMPACT_AFTER = 4096;

/**
 * The replicated messages of one conversation group, in commit order, with the msg_id index that
 * makes a repeated msg_id a no-op. Bounded: past `maxMessages` or `maxLogBytes` the oldest messages
 * (and their msg_id entries) go. Mutated only while a command is applied, so every node holds the
 * same messages; readers anywhere get the changes through `changes$`.
 */
@ReplicatedState('chat.messages')
@Injectable()
export class MessageLog implements ReplicatedStateStore {
  /** Live messages are `messages[head..]`; evicting moves `head` so that it costs O(1). */
  private messages: ChatMessage[] = [];
  private head = 0;
  private readonly byMsgId = new Map<string, ChatMessage>();
  private bytes = 0;
  private evicted = 0;
  private readonly changes = new Subject<MessageLogChange>();

  /** Fires synchronously inside apply (and restore): subscribers must not do slow work there. */
  readonly changes$: Observable<MessageLogChange> = this.changes.asObservable();

  constructor(@Inject(CHAT_OPTIONS) private readonly limits: MessageLogLimits) {}

  get size(): number {
    return this.messages.length - this.head;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** commit_index of the newest evicted message (0 if none): a reader positioned before it missed messages. */
  get evictedThrough(): number {
    return this.evicted;
  }

  get firstIndex(): number | null {
    return this.size === 0 ? null : this.messages[this.head].commit_index;
  }

  get lastIndex(): number | null {
    return this.size === 0 ? null : this.messages[this.messages.length - 1].commit_index;
  }

  findByMsgId(msgId: string): ChatMessage | undefined {
    return this.byMsgId.get(msgId);
  }

  /** Appends a message of a newer log entry; call only from a command handler. */
  append(message: ChatMessage): void {
    const last = this.lastIndex;
    if (last !== null && message.commit_index <= last) {
      throw new Error(`message log: commit_index ${message.commit_index} is not after the last one (${last})`);
    }
    if (this.byMsgId.has(message.msg_id)) throw new Error(`message log: msg_id ${message.msg_id} is already stored`);
    this.messages.push(message);
    this.byMsgId.set(message.msg_id, message);
    this.bytes += messageBytes(message);
    this.evictOverflow();
    this.changes.next({ type: 'appended', message });
  }

  /** Up to `limit` messages with commit_index > `index`, oldest first. */
  after(index: number, limit: number): ChatMessage[] {
    const start = this.firstPositionAfter(index);
    return this.messages.slice(start, Math.min(start + Math.max(0, limit), this.messages.length));
  }

  snapshot(): MessageLogSnapshot {
    return { version: 1, evictedThrough: this.evicted, messages: this.messages.slice(this.head) };
  }

  restore(state: unknown): void {
    const s = parseSnapshot(state);
    this.messages = s.messages;
    this.head = 0;
    this.byMsgId.clear();
    this.bytes = 0;
    for (const m of s.messages) {
      this.byMsgId.set(m.msg_id, m);
      this.bytes += messageBytes(m);
    }
    this.evicted = s.evictedThrough;
    this.changes.next({ type: 'reset' });
  }

  private evictOverflow(): void {
    // At least the newest message always stays, even if it alone is over the byte bound.
    while (this.size > 1 && (this.size > this.limits.maxMessages || this.bytes > this.limits.maxLogBytes)) {
      const oldest = this.messages[this.head];
      this.head++;
      this.byMsgId.delete(oldest.msg_id);
      this.bytes -= messageBytes(oldest);
      this.evicted = oldest.commit_index;
    }
    if (this.head > COMPACT_AFTER && this.head * 2 > this.messages.length) {
      this.messages = this.messages.slice(this.head);
      this.head = 0;
    }
  }

  private firstPositionAfter(index: number): number {
    let lo = this.head;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.messages[mid].commit_index <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function parseSnapshot(state: unknown): MessageLogSnapshot {
  if (state === undefined || state === null) return { version: 1, evictedThrough: 0, messages: [] };
  const s = state as Partial<MessageLogSnapshot>;
  if (typeof s !== 'object' || s.version !== 1 || !Array.isArray(s.messages) || typeof s.evictedThrough !== 'number') {
    throw new Error('message log: the snapshot is not a version 1 message log');
  }
  return { version: 1, evictedThrough: s.evictedThrough, messages: s.messages };
}
