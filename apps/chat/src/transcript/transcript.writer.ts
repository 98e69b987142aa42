import { Inject, Logger } from '@nestjs/common';
import { EventProcessor, EventProcessorHandler, ProcessedEventMeta, ProcessorResetInfo } from '@raft-cqrs/raft-cluster';
import { appendFile, mkdir, open, readFile, rename, truncate } from 'node:fs/promises';
import * as path from 'node:path';
import { ChatMessage } from '../domain/chat-message';
import { MessageLog } from '../domain/message-log';
import { MessagePostedEvent } from '../post-message/message-posted.event';

/** Injection token of the folder each node writes its transcript to (CHAT_TRANSCRIPT=1: `DATA_DIR/transcript`). */
export const TRANSCRIPT_DIR = Symbol('CHAT_TRANSCRIPT_DIR');

/** One line of the transcript: the message and the id of the event that wrote it. */
type TranscriptLine = ChatMessage & { eventId: string };

/**
 * Every node keeps a plain transcript of the `general` conversation on its own disk
 * (`transcript/general.jsonl`, one JSON message per line, in log order), for operators to read and grep.
 * An `every-node` event processor: after a restart it resumes after its checkpoint. The checkpoint is
 * saved after the line is written, so a crash in between would write the line again: the writer also
 * skips any message at or below the last commit index in the file, which makes each line appear once.
 */
@EventProcessor('chat-transcript', { mode: 'every-node', events: [MessagePostedEvent] })
export class TranscriptWriter implements EventProcessorHandler<MessagePostedEvent> {
  private readonly logger = new Logger(TranscriptWriter.name);
  private readonly file: string;
  /** commit_index of the last line in the file; null until the file has been read. */
  private lastIndex: number | null = null;

  constructor(
    @Inject(TRANSCRIPT_DIR) dir: string,
    private readonly log: MessageLog,
  ) {
    this.file = path.join(dir, 'general.jsonl');
  }

  async handle(event: MessagePostedEvent, meta: ProcessedEventMeta): Promise<void> {
    const last = await this.lastWritten();
    if (event.message.commit_index <= last) return;
    await appendFile(this.file, line({ ...event.message, eventId: meta.eventId }));
    this.lastIndex = event.message.commit_index;
  }

  /**
   * The events after this node's checkpoint are gone (it was down longer than the journal keeps them):
   * the transcript is written again from the messages the replicated log holds now.
   */
  async reset(info: ProcessorResetInfo): Promise<void> {
    const messages = this.log.after(0, Number.MAX_SAFE_INTEGER);
    const temp = `${this.file}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(messages.map((m) => line({ ...m, eventId: `${m.commit_index}:0` })).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
    this.lastIndex = messages.length === 0 ? 0 : messages[messages.length - 1].commit_index;
    this.logger.warn(`transcript rewritten from the ${messages.length} messages held: the events after ${info.checkpoint ?? 'the start'} up to ${info.resumeAfter} were no longer kept`);
  }

  private async lastWritten(): Promise<number> {
    if (this.lastIndex !== null) return this.lastIndex;
    await mkdir(path.dirname(this.file), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // A torn last line (a crash mid-write) is cut off, or the next line would be glued to it.
    if (text !== '' && !text.endsWith('\n')) {
      text = text.slice(0, text.lastIndexOf('\n') + 1);
      await truncate(this.file, Buffer.byteLength(text));
    }
    const lines = text.split('\n').filter((l) => l !== '');
    this.lastIndex = lines.length === 0 ? 0 : (JSON.parse(lines[lines.length - 1]) as TranscriptLine).commit_index;
    return this.lastIndex;
  }
}

function line(l: TranscriptLine): string {
  return `${JSON.stringify(l)}\n`;
}
