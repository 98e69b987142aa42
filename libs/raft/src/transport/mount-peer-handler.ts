import * as http from 'node:http';
import { sendJsonError } from './error-reply';
import { PeerRequestHandler } from './peer-handler';

/**
 * Puts `handler` in front of the server's existing 'request' listeners (for example the Express app a
 * Nest application installed): the handler sees every request first, and requests it declines (returns
 * false) go to the previous listeners, in order. Call it after the framework has attached its listener.
 * Returns a function that restores the previous listeners.
 */
export function mountPeerHandler(server: http.Server, handler: PeerRequestHandler): () => void {
  // Node kills any request still receiving its body after server.requestTimeout (300 s by default, checked
  // every connectionsCheckingInterval) and req/res.setTimeout(0) do not lift it: the long-lived
  // /raft/stream requests need it off (restored on unmount). headersTimeout (slow headers) and socket
  // timeouts still apply.
  const previousRequestTimeout = server.requestTimeout;
  server.requestTimeout = 0;
  const previous = server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.removeAllListeners('request');
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let handled: boolean;
    try {
      handled = handler(req, res);
    } catch (_e) {
      handled = true;
      sendJsonError(res, 500, 'internal_error', 'peer request failed');
    }
    if (handled) return;
    for (const l of previous) l.call(server, req, res);
  };
  server.on('request', listener);
  return () => {
    if (server.requestTimeout === 0) server.requestTimeout = previousRequestTimeout;
    handler.closeStreams?.();
    server.removeListener('request', listener);
    for (const l of previous) server.on('request', l);
  };
}
