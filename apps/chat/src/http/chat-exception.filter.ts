import { ArgumentsHost, Catch, HttpException } from '@nestjs/common';
import { ClusterExceptionFilter } from '@raft-cqrs/raft-cluster';
import type { ServerResponse } from 'node:http';

/** What body-parser's errors carry (it sets `type` and `status` on them). */
interface BodyParserError {
  type: string;
  status: number;
  message: string;
}

function isBodyParserError(e: unknown): e is BodyParserError {
  return e instanceof Error && typeof (e as Partial<BodyParserError>).type === 'string' && typeof (e as Partial<BodyParserError>).status === 'number';
}

/** The body of an app error that carries its own code (`{ error: 'snake_case', message, ... }`); Nest's built-in bodies do not. */
function errorBody(e: HttpException): Record<string, unknown> | null {
  const body = e.getResponse();
  if (typeof body !== 'object' || body === null) return null;
  const code = (body as { error?: unknown }).error;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? (body as Record<string, unknown>) : null;
}

/**
 * The cluster's filter, plus what it does not do: an app error whose body is already
 * `{ error, message, ... }` keeps all its fields (the `field` of a 400) and a 503 of the app gets
 * `Retry-After`; a body over the parser's limit is a 413 rather than a 500.
 */
@Catch()
export class ChatExceptionFilter extends ClusterExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    if (exception instanceof HttpException && errorBody(exception) !== null && !res.headersSent) {
      const status = exception.getStatus();
      reply(res, status, errorBody(exception)!, status === 503 ? { 'retry-after': '1' } : {});
      return;
    }
    if (isBodyParserError(exception) && !res.headersSent) {
      if (exception.type === 'entity.too.large') {
        reply(res, 413, { error: 'payload_too_large', message: 'the request body is over the limit' });
        return;
      }
      if (exception.status >= 400 && exception.status < 500) {
        reply(res, exception.status, { error: 'bad_request', message: `the request body could not be read: ${exception.message}`, field: 'body' });
        return;
      }
    }
    super.catch(exception, host);
  }
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
