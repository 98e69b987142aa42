import type { ServerResponse } from 'node:http';
import type { HttpAnswer } from '../internal/http-client';

/** The leader's answer to a forwarded request, to be sent to the client as it is (see `relayAnswer`). */
export class RelayedAnswer extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`answer relayed from the leader (${answer.status})`);
    this.name = 'RelayedAnswer';
  }
}

/** Answer headers of the leader that are relayed to the client. */
const RELAYED_ANSWER_HEADERS = ['content-type', 'location', 'retry-after', 'cache-control', 'etag', 'last-modified'];

/** Sends the leader's answer as it came: status, body and the headers that describe it. */
export function relayAnswer(res: ServerResponse, relayed: RelayedAnswer): void {
  const { status, headers, body } = relayed.answer;
  if (res.headersSent) return void res.end();
  for (const name of RELAYED_ANSWER_HEADERS) {
    const v = headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  res.statusCode = status;
  res.end(body);
}
