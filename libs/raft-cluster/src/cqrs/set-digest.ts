import { createHash, hash } from 'node:crypto';

/**
 * A digest of a set of items that follows additions and removals in constant time: the XOR of the
 * items' SHA-256 hashes, and their count. It does not see order, only membership; equal sets give
 * equal digests on every node, whatever order they were built in.
 */
export class SetDigest {
  private readonly acc = Buffer.alloc(32);
  private count = 0;

  static hash(text: string): Buffer {
    return hash('sha256', text, 'buffer');
  }

  add(hash: Buffer): void {
    this.xor(hash);
    this.count++;
  }

  remove(hash: Buffer): void {
    this.xor(hash);
    this.count--;
  }

  clear(): void {
    this.acc.fill(0);
    this.count = 0;
  }

  value(): string {
    return createHash('sha256').update(`${this.count}:`).update(this.acc).digest('hex');
  }

  private xor(hash: Buffer): void {
    for (let i = 0; i < 32; i++) this.acc[i] ^= hash[i];
  }
}
