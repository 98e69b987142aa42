import { HttpException } from '@nestjs/common';

/** A handler's error as it travels between nodes and sits in the session table. */
export interface SerializedError {
  name: string;
  message: string;
  /** HTTP status, for an HttpException. */
  status?: number;
  /** `HttpException.getResponse()`, when it is an object or string. */
  response?: unknown;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof HttpException) {
    return { name: err.name || err.constructor.name, message: err.message, status: err.getStatus(), response: err.getResponse() };
  }
  if (err instanceof Error) return { name: err.name || 'Error', message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * A handler error that was not an HttpException, rebuilt on another node (or from the session table):
 * its original class name is `name`.
 */
export class ReplicatedCommandError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The equivalent of the handler's error: an HttpException with the same status and body, or a named Error. */
export function deserializeError(e: SerializedError): Error {
  if (typeof e.status === 'number') {
    const ex = new HttpException((e.response as string | Record<string, unknown> | undefined) ?? e.message, e.status);
    Object.defineProperty(ex, 'name', { value: e.name, enumerable: false, configurable: true, writable: true });
    return ex;
  }
  return new ReplicatedCommandError(e.name, e.message);
}
