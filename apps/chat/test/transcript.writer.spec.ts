import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ProcessedEventMeta } from '@raft-cqrs/raft-cluster';
import { MessagePostedEvent } from '../src/post-message/message-posted.event';
import { TranscriptWriter } from '../src/transcript/transcript.writer';
import { message, newLog } from './support';

const meta = (index: number): ProcessedEventMeta => ({ eventId: `${index}:0`, index, name: 'MessagePostedEvent', timestamp: 0, correlationId: null, causationId: null, attempt: 0 });

function lines(dir: string): { commit_index: number; eventId: string; payload: string }[] {
  return readFileSync(path.join(dir, 'general.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { commit_index: number; eventId: string; payload: string });
}

describe('TranscriptWriter', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'chat-transcript-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one line per message in log order, and a new writer on the same file never writes a line twice', async () => {
    const first = new TranscriptWriter(dir, newLog());
    for (const i of [3, 5, 8]) await first.handle(new MessagePostedEvent(message(i)), meta(i));
    // A crash after the line was written but before the checkpoint was saved: the same events again.
    const second = new TranscriptWriter(dir, newLog());
    for (const i of [5, 8, 9]) await second.handle(new MessagePostedEvent(message(i)), meta(i));
    expect(lines(dir).map((l) => [l.commit_index, l.eventId])).toEqual([
      [3, '3:0'],
      [5, '5:0'],
      [8, '8:0'],
      [9, '9:0'],
    ]);
  });

  it('cuts a torn last line before writing on', async () => {
    const first = new TranscriptWriter(dir, newLog());
    await first.handle(new MessagePostedEvent(message(1)), meta(1));
    appendFileSync(path.join(dir, 'general.jsonl'), '{"msg_id":"m2","conv');
    const second = new TranscriptWriter(dir, newLog());
    await second.handle(new MessagePostedEvent(message(2)), meta(2));
    expect(lines(dir).map((l) => l.commit_index)).toEqual([1, 2]);
  });

  it('a reset rewrites the transcript from the messages the log holds, and goes on after them', async () => {
    const log = newLog();
    for (const i of [10, 11, 12]) log.append(message(i));
    const writer = new TranscriptWriter(dir, log);
    await writer.handle(new MessagePostedEvent(message(2)), meta(2));
    await writer.reset({ processor: 'chat-transcript', checkpoint: '2:0', resumeAfter: '9:0' });
    await writer.handle(new MessagePostedEvent(message(11)), meta(11)); // already in the rewritten file
    await writer.handle(new MessagePostedEvent(message(13)), meta(13));
    expect(lines(dir).map((l) => l.commit_index)).toEqual([10, 11, 12, 13]);
  });
});
