import { runInApplyContext, testApplyContext } from '@raft-cqrs/raft-cluster/testing';
import { ChatMessage } from '../src/domain/chat-message';
import { MessageLog, MessageLogLimits } from '../src/domain/message-log';
import { PostMessageCommand, PostMessageResult } from '../src/post-message/post-message.command';
import { PostMessageHandler } from '../src/post-message/post-message.handler';
import { SseSink } from '../src/stream-messages/sse-subscriber';

export function newLog(limits: Partial<MessageLogLimits> = {}): MessageLog {
  return new MessageLog({ maxMessages: 100_000, maxLogBytes: 1 << 30, ...limits });
}

export function message(index: number, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { msg_id: `m${index}`, conv_id: 'general', sender: 'alice', payload: `hello ${index}`, vector_clock: {}, commit_index: index, ts: 1_700_000_000_000 + index, ...extra };
}

/** Applies `command` as entry `index` would be applied by the bridge. */
export function applyPost(handler: PostMessageHandler, index: number, command: PostMessageCommand, ts = 1_700_000_000_000 + index): Promise<PostMessageResult> {
  return runInApplyContext(testApplyContext(index, { timestamp: ts }), () => handler.execute(command));
}

export function post(sender: string, payload: string, msgId: string | null = null): PostMessageCommand {
  return new PostMessageCommand('general', sender, payload, {}, msgId);
}

/** A response stand-in: records writes; its buffer fills until the test drains it. */
export class FakeSink implements SseSink {
  readonly chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  private drainListeners: (() => void)[] = [];

  write(chunk: string): boolean {
    this.chunks.push(chunk);
    this.writableLength += chunk.length;
    return this.writableLength < 16 * 1024;
  }

  once(_event: 'drain', listener: () => void): this {
    this.drainListeners.push(listener);
    return this;
  }

  end(): this {
    this.ended = true;
    return this;
  }

  destroy(): this {
    this.destroyed = true;
    return this;
  }

  /** The client read everything buffered. */
  drain(): void {
    this.writableLength = 0;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    for (const l of listeners) l();
  }

  get text(): string {
    return this.chunks.join('');
  }

  /** The `id:` of every message event written, in order. */
  get ids(): number[] {
    return [...this.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  }
}
