/**
 * Where each stored entry lives: segment, byte offset and length of its record, and its term, for the
 * entries first..last (consecutive). Typed arrays, 24 bytes per entry.
 */
export class EntryIndex {
  private seqs = new Uint32Array(1024);
  private offs = new Float64Array(1024);
  private lens = new Uint32Array(1024);
  private terms = new Float64Array(1024);
  private head = 0;
  private tail = 0;
  /** Index of the entry at `head` (or that the next push gets, when empty). */
  private first: number;

  constructor(first: number) {
    this.first = first;
  }

  get count(): number {
    return this.tail - this.head;
  }

  firstIndex(): number {
    return this.first;
  }

  lastIndex(): number {
    return this.first + this.count - 1;
  }

  has(index: number): boolean {
    return index >= this.first && index < this.first + this.count;
  }

  private pos(index: number): number {
    if (!this.has(index)) throw new Error(`entry index: ${index} not in [${this.first}, ${this.lastIndex()}]`);
    return this.head + index - this.first;
  }

  seq(index: number): number {
    return this.seqs[this.pos(index)];
  }

  offset(index: number): number {
    return this.offs[this.pos(index)];
  }

  length(index: number): number {
    return this.lens[this.pos(index)];
  }

  term(index: number): number {
    return this.terms[this.pos(index)];
  }

  /** Appends the location of entry `lastIndex() + 1`. */
  push(seq: number, offset: number, length: number, term: number): void {
    if (this.tail === this.seqs.length) this.makeRoom();
    const p = this.tail++;
    this.seqs[p] = seq;
    this.offs[p] = offset;
    this.lens[p] = length;
    this.terms[p] = term;
  }

  /** Forgets `index` and everything after it. */
  truncateFrom(index: number): void {
    if (index < this.first) throw new Error(`entry index: truncate at ${index} below first ${this.first}`);
    if (index <= this.lastIndex()) this.tail = this.head + index - this.first;
  }

  /** Forgets everything up to and including `index`. */
  dropThrough(index: number): void {
    const n = index - this.first + 1;
    if (n <= 0) return;
    if (n >= this.count) {
      this.reset(index + 1);
      return;
    }
    this.head += n;
    this.first += n;
  }

  reset(first: number): void {
    this.head = this.tail = 0;
    this.first = first;
  }

  private makeRoom(): void {
    const n = this.count;
    if (this.head > 0 && n <= this.seqs.length / 2) {
      this.seqs.copyWithin(0, this.head, this.tail);
      this.offs.copyWithin(0, this.head, this.tail);
      this.lens.copyWithin(0, this.head, this.tail);
      this.terms.copyWithin(0, this.head, this.tail);
    } else {
      const cap = this.seqs.length * 2;
      const grow = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a.subarray(this.head, this.tail));
        return b;
      };
      this.seqs = grow(this.seqs, (c) => new Uint32Array(c));
      this.offs = grow(this.offs, (c) => new Float64Array(c));
      this.lens = grow(this.lens, (c) => new Uint32Array(c));
      this.terms = grow(this.terms, (c) => new Float64Array(c));
    }
    this.head = 0;
    this.tail = n;
  }
}
