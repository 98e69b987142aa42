import { indexParam } from '../list-messages/list-messages.input';

/**
 * Where a stream starts, as the commit_index after which it sends: `Last-Event-ID: L` sends
 * commit_index > L (the last event the client got, as EventSource resumes); `?from=N` sends
 * commit_index >= N, like `GET /messages?from=N`. When both are given the header wins, because a
 * reconnecting EventSource repeats its original URL (and `from`) with the header added. Neither:
 * everything retained.
 */
export function streamStartAfter(query: { from?: unknown }, lastEventId: string | string[] | undefined): number {
  const header = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (header !== undefined && header.trim() !== '') return indexParam('Last-Event-ID', header.trim(), 0);
  return Math.max(0, indexParam('from', query.from, 0) - 1);
}
