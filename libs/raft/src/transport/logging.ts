export interface TransportLogger {
  warn(msg: string): void;
  debug?(msg: string): void;
}

/** A short reason for a log line: the error code when there is one (`ECONNREFUSED`), else the message. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown };
    if (typeof e.code === 'string') return e.code;
    if (typeof e.message === 'string') return e.message;
  }
  return String(err);
}
