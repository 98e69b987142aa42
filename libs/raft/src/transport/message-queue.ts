import { Message } from '../core/types';
import { BATCH_OVERHEAD } from './codec';

/**
 * One peer's outgoing messages, oldest first, each with its estimated encoded size. Bounded by its
 * owner: {@link dropOldestBeyond} after each push.
 */
export class MessageQueue {
  private items: Message[] = [];
  private sizes: number[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: Message, size: number): void {
    this.items.push(m);
    this.sizes.push(size);
    this.bytes += size;
  }

  /** Drops the oldest messages while over either limit (a single message is kept however big); returns how many. */
  dropOldestBeyond(maxMessages: number, maxBytes: number): number {
    let dropped = 0;
    while (this.length > maxMessages || (this.bytes > maxBytes && this.length > 1)) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  /** Takes the next batch off the queue (at least one message, at most maxBatchBytes unless one is bigger). */
  takeBatch(maxBatchBytes: number): Message[] {
    const batch: Message[] = [];
    let bytes = BATCH_OVERHEAD;
    while (this.length > 0 && (batch.length === 0 || bytes + this.sizes[this.head] <= maxBatchBytes)) {
      bytes += this.sizes[this.head];
      batch.push(this.shift());
    }
    return batch;
  }

  clear(): void {
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
  }

  private shift(): Message {
    const m = this.items[this.head];
    this.bytes -= this.sizes[this.head];
    this.items[this.head] = undefined as unknown as Message; // let it be collected
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return m;
  }
}
