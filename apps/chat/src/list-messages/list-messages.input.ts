import { BadFieldException } from '../http/bad-field.exception';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** A non-negative integer query parameter (absent: `fallback`), or a 400 naming it. */
export function indexParam(field: string, raw: unknown, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) throw new BadFieldException(field, `"${field}" must be a non-negative integer`);
  return Number(raw);
}

export function parseListMessages(query: { from?: unknown; limit?: unknown }): { from: number; limit: number } {
  const from = indexParam('from', query.from, 0);
  const limit = indexParam('limit', query.limit, DEFAULT_PAGE_SIZE);
  if (limit < 1 || limit > MAX_PAGE_SIZE) throw new BadFieldException('limit', `"limit" must be 1-${MAX_PAGE_SIZE}`);
  return { from, limit };
}
