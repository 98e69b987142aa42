import type { IncomingMessage, ServerResponse } from 'node:http';

/** The Nest HTTP platforms the module runs on (`@nestjs/platform-express`, `@nestjs/platform-fastify`). */
export type HttpPlatform = 'express' | 'fastify';

export const HTTP_PLATFORMS: readonly HttpPlatform[] = ['express', 'fastify'];

interface FastifyRequestLike {
  raw: IncomingMessage;
}

interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): unknown;
  sent?: boolean;
}

function isFastifyReply(res: unknown): res is FastifyReplyLike {
  return typeof res === 'object' && res !== null && 'raw' in res && typeof (res as { hijack?: unknown }).hijack === 'function';
}

/**
 * Node's request under what a route handler gets: Express's request is one (it extends it), Fastify's
 * wraps it in `raw`. Streams listen for `close` on it.
 */
export function rawRequest(req: unknown): IncomingMessage {
  const raw = (req as Partial<FastifyRequestLike>).raw;
  return (raw ?? req) as IncomingMessage;
}

/** Node's response under what `@Res()` gives, to read (`headersSent`, the socket); see `takeOverResponse` to write. */
export function rawResponse(res: unknown): ServerResponse {
  return (isFastifyReply(res) ? res.raw : res) as ServerResponse;
}

/**
 * Node's response, for a handler or filter that writes the answer itself (a stream, a relayed answer, a
 * file). On Fastify the reply is hijacked first, so Fastify neither sends its own answer after the
 * handler returns nor complains that one was written behind its back.
 */
export function takeOverResponse(res: unknown): ServerResponse {
  if (isFastifyReply(res)) {
    if (res.sent !== true) res.hijack();
    return res.raw;
  }
  return res as ServerResponse;
}

/** True when the handler took the response over (`takeOverResponse`): only node's response can answer now. */
export function isTakenOver(res: unknown): boolean {
  return isFastifyReply(res) && res.sent === true;
}

/**
 * What a handler with `@Res({ passthrough: true })` sets on both platforms' replies: Express's response
 * and Fastify's reply both have a `statusCode` setter and `header(name, value)`.
 */
export interface PassthroughReply {
  statusCode: number;
  header(name: string, value: string): unknown;
}
