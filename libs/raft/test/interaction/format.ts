import { decodeConfEntry, Entry, EntryType, HardState, Message, NodeId, SnapshotMeta } from '../../src/core';

/** How the scripts print the core's data: one line per item, `index@tterm` for a log position. */

const decoder = new TextDecoder();

export function position(index: number, term: number): string {
  return `${index}@t${term}`;
}

export function list(ids: readonly NodeId[]): string {
  return `(${ids.join(',')})`;
}

export function formatEntry(e: Entry): string {
  const at = position(e.index, e.term);
  switch (e.type) {
    case EntryType.Noop:
      return `${at} noop`;
    case EntryType.ConfChange: {
      const { change } = decodeConfEntry(e);
      return `${at} conf ${change.type} ${change.id}`;
    }
    default:
      return `${at} ${JSON.stringify(decoder.decode(e.data))}`;
  }
}

export function formatEntries(entries: Entry[]): string {
  return entries.map(formatEntry).join(', ');
}

export function formatHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote ?? 'none'} commit=${hs.commit}`;
}

export function formatSnapshotMeta(meta: SnapshotMeta): string {
  const learners = meta.conf.learners.length > 0 ? ` learners=${list(meta.conf.learners)}` : '';
  return `${position(meta.index, meta.term)} voters=${list(meta.conf.voters)}${learners} size=${meta.size}`;
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      return `${head} last=${position(m.lastLogIndex, m.lastLogTerm)}${m.transfer ? ' transfer' : ''}`;
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${head} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append': {
      const entries = m.entries.length > 0 ? ` entries=[${formatEntries(m.entries)}]` : '';
      return `${head} prev=${position(m.prevIndex, m.prevTerm)} commit=${m.commit}${entries}`;
    }
    case 'append-resp':
      return m.reject ? `${head} reject index=${m.index} hint=${position(m.hintIndex, m.hintTerm)}` : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.readRound > 0 ? ` read-round=${m.readRound}` : ''}`;
    case 'heartbeat-resp':
      return `${head}${m.readRound > 0 ? ` read-round=${m.readRound}` : ''}`;
    case 'snapshot':
      return `${head} snap=${position(m.meta.index, m.meta.term)} offset=${m.offset} length=${m.length} size=${m.meta.size}${m.done ? ' done' : ''}`;
    case 'snapshot-resp':
      return `${head} snap=${m.snapshotIndex} next-offset=${m.nextOffset}${m.installed ? ' installed' : ''}`;
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} id=${m.requestId}`;
    case 'read-index-resp':
      return `${head} id=${m.requestId} index=${m.index}`;
  }
}
