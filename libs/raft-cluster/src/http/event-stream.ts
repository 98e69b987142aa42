import type { ServerResponse } from 'node:http';

const EVENT_STREAM = 'text/event-stream';

/**
 * Starts a Server-Sent Events answer on `res` (status 200) with `headers` besides the stream's own, and
 * readies the socket for small writes that come at any time. The headers are set one by one, not given
 * to `writeHead`: headers given to `writeHead` cannot be read back, and the admission check reads the
 * content type to stop counting an open stream as a request in progress (before this, every chat
 * stream counted, and 32 open ones made a busy node refuse requests).
 */
export function openEventStream(res: ServerResponse, headers: Record<string, string | number | readonly string[]> = {}): void {
  const all = { ...headers, 'content-type': `${EVENT_STREAM}; charset=utf-8`, 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' };
  for (const [name, value] of Object.entries(all)) res.setHeader(name, value);
  res.writeHead(200);
  res.socket?.setNoDelay(true);
  res.socket?.setTimeout(0);
}

/** Whether `res` is an event stream whose headers are out (a long-lived answer, not a request waiting). */
export function isOpenEventStream(res: ServerResponse): boolean {
  return res.headersSent && String(res.getHeader('content-type') ?? '').startsWith(EVENT_STREAM);
}
