import { BadRequestException } from '@nestjs/common';

/*
 * Hand-written input checks (the app takes no validation dependency). Everything a client sends is
 * checked here, in the controller, so that a bad request is refused on the node that got it and
 * never becomes a log entry that every replica would have to apply and refuse.
 */

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const MAX_QUANTITY = 1_000_000;
export const MAX_STOCK = 1_000_000_000;
export const MAX_NAME_LENGTH = 200;

export function badField(field: string, message: string): BadRequestException {
  return new BadRequestException({ error: 'bad_request', message, field });
}

/** The request body as an object whose fields can be read; unknown fields are simply not read. */
export function requireObjectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badField('body', 'the body must be a JSON object (content-type: application/json)');
  }
  return body as Record<string, unknown>;
}

export function idField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw badField(field, `${field} must be 1-128 characters of letters, digits, ".", "_", ":" or "-"`);
  }
  return value;
}

/** An optional id: absent (undefined, null, or an empty query parameter) is null. */
export function optionalIdField(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  return idField(value, field);
}

/** A JSON number that is an integer in [min, max]; numeric strings are refused rather than guessed at. */
export function integerField(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badField(field, `${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function optionalNameField(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > MAX_NAME_LENGTH) {
    throw badField(field, `${field} must be a string of at most ${MAX_NAME_LENGTH} characters`);
  }
  return value;
}
