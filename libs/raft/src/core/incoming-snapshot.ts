import { SnapshotChunk, SnapshotMeta } from './types';

/**
 * A follower's side of a snapshot streamed in chunks: which snapshot is arriving and the next byte
 * it expects. Chunks are taken strictly in order, so the bytes handed to storage have no holes.
 */
export class IncomingSnapshot {
  private receiving: { meta: SnapshotMeta; nextOffset: number } | null = null;

  abandon(): void {
    this.receiving = null;
  }

  /**
   * Takes `chunk` when it is the next one of the snapshot arriving, or the first of another (which
   * replaces it); a chunk that completes the snapshot ends it. Returns the offset expected next.
   */
  accept(chunk: SnapshotChunk): { taken: boolean; nextOffset: number } {
    let r = this.receiving;
    if (r === null || r.meta.index !== chunk.meta.index || r.meta.term !== chunk.meta.term) {
      if (chunk.offset !== 0) return { taken: false, nextOffset: 0 };
      r = this.receiving = { meta: chunk.meta, nextOffset: 0 };
    }
    if (chunk.offset !== r.nextOffset) return { taken: false, nextOffset: r.nextOffset };
    r.nextOffset += chunk.length;
    if (chunk.done) this.receiving = null;
    return { taken: true, nextOffset: r.nextOffset };
  }
}
