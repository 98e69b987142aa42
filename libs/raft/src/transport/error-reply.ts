import * as http from 'node:http';

/** Why a peer request is refused: its status and the `{ error, message }` it is answered with. */
export interface Rejection {
  status: number;
  error: string;
  message: string;
}

/**
 * Answers `{ error, message }` as JSON, then calls `onSent`. When an answer has already begun there is
 * nothing left to say: the response is only ended.
 */
export function sendJsonError(res: http.ServerResponse, status: number, error: string, message: string, extraHeaders: Record<string, string> = {}, onSent?: () => void): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ error, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extraHeaders });
  if (onSent) res.end(body, onSent);
  else res.end(body);
}
