/**
 * Where an event sits in the log: the index of the entry whose apply raised it and its place among that
 * entry's events. Its text form `<index>:<n>` is the event's id, the same on every node and across
 * replays, which is what a receiver de-duplicates on.
 */
export interface EventPosition {
  readonly index: number;
  readonly n: number;
}

const POSITION_PATTERN = /^(\d{1,15}):(\d{1,9})$/;

export function formatPosition(p: EventPosition): string {
  return `${p.index}:${p.n}`;
}

/** The position of an id written by {@link formatPosition}, or null for anything else. */
export function parsePosition(text: unknown): EventPosition | null {
  if (typeof text !== 'string') return null;
  const m = POSITION_PATTERN.exec(text);
  if (m === null) return null;
  return { index: Number(m[1]), n: Number(m[2]) };
}

/** Negative when `a` comes first in the log, 0 when equal; null comes before every position. */
export function comparePositions(a: EventPosition | null, b: EventPosition | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return a.index !== b.index ? a.index - b.index : a.n - b.n;
}

