/** A sender's vector clock: opaque to the server, stored and returned as the client sent it. */
export type VectorClock = Record<string, number>;

/** One stored message, as every API version returns it (field names are the wire format). */
export interface ChatMessage {
  msg_id: string;
  conv_id: string;
  sender: string;
  payload: string;
  vector_clock: VectorClock;
  /** Raft log index of the entry that stored it: unique, increasing, the same on every node. */
  commit_index: number;
  /** The leader's clock (ms since the epoch) when it proposed the entry. */
  ts: number;
}

/** What the retention bound counts for a message: deterministic, so every node evicts alike. */
export function messageBytes(m: ChatMessage): number {
  let clock = 0;
  for (const k of Object.keys(m.vector_clock)) clock += Buffer.byteLength(k) + 16;
  return Buffer.byteLength(m.payload) + Buffer.byteLength(m.sender) + Buffer.byteLength(m.conv_id) + Buffer.byteLength(m.msg_id) + clock + 64;
}
