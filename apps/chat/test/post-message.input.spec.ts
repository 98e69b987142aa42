import { BadFieldException } from '../src/http/bad-field.exception';
import { parseListMessages } from '../src/list-messages/list-messages.input';
import { parsePostMessage } from '../src/post-message/post-message.input';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof BadFieldException) {
      expect(err.getStatus()).toBe(400);
      const body = err.getResponse() as { error: string; message: string; field: string };
      expect(body.error).toBe('bad_request');
      expect(body.message).toContain(body.field);
      return body.field;
    }
    throw err;
  }
  return undefined;
}

const ok = { conv_id: 'general', sender: 'alice', payload: 'hi' };

describe('POST /api/v1/message validation', () => {
  it('accepts a minimal message, defaulting conv_id, vector_clock and msg_id', () => {
    expect(parsePostMessage({ sender: 'alice', payload: '' })).toEqual({ convId: 'general', sender: 'alice', payload: '', vectorClock: {}, msgId: null });
    expect(parsePostMessage({ ...ok, vector_clock: { a: 0, b: 7 }, msg_id: 'c-1.2:x_y' })).toMatchObject({ vectorClock: { a: 0, b: 7 }, msgId: 'c-1.2:x_y' });
  });

  it.each([
    ['body', 'not an object'],
    ['body', null],
    ['body', [ok]],
    ['conv_id', { ...ok, conv_id: '' }],
    ['conv_id', { ...ok, conv_id: 'c'.repeat(129) }],
    ['conv_id', { ...ok, conv_id: 5 }],
    ['sender', { ...ok, sender: undefined }],
    ['sender', { ...ok, sender: 's'.repeat(129) }],
    ['payload', { ...ok, payload: undefined }],
    ['payload', { ...ok, payload: { text: 'hi' } }],
    ['payload', { ...ok, payload: 'x'.repeat(64 * 1024 + 1) }],
    ['payload', { ...ok, payload: 'é'.repeat(32 * 1024 + 1) }],
    ['vector_clock', { ...ok, vector_clock: [1, 2] }],
    ['vector_clock', { ...ok, vector_clock: 'a:1' }],
    ['vector_clock', { ...ok, vector_clock: { a: -1 } }],
    ['vector_clock', { ...ok, vector_clock: { a: 1.5 } }],
    ['vector_clock', { ...ok, vector_clock: { a: '1' } }],
    ['vector_clock', { ...ok, vector_clock: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`n${i}`, i])) }],
    ['msg_id', { ...ok, msg_id: '' }],
    ['msg_id', { ...ok, msg_id: 'has space' }],
    ['msg_id', { ...ok, msg_id: 'a/b' }],
    ['msg_id', { ...ok, msg_id: 'm'.repeat(129) }],
    ['msg_id', { ...ok, msg_id: 42 }],
  ])('answers 400 naming %s', (field, body) => {
    expect(fieldOf(() => parsePostMessage(body))).toBe(field);
  });

  it('accepts the bounds themselves', () => {
    expect(() => parsePostMessage({ ...ok, sender: 's'.repeat(128), payload: 'x'.repeat(64 * 1024), msg_id: 'm'.repeat(128) })).not.toThrow();
    expect(() => parsePostMessage({ ...ok, vector_clock: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`n${i}`, i])) })).not.toThrow();
  });

  it('keeps a "__proto__" clock key as data', () => {
    const input = parsePostMessage({ ...ok, vector_clock: JSON.parse('{"__proto__": 3}') });
    expect(Object.keys(input.vectorClock)).toEqual(['__proto__']);
    expect(JSON.stringify(input.vectorClock)).toBe('{"__proto__":3}');
  });
});

describe('GET /api/v1/messages parameters', () => {
  it('defaults to from 0, limit 100', () => {
    expect(parseListMessages({})).toEqual({ from: 0, limit: 100 });
    expect(parseListMessages({ from: '12', limit: '1000' })).toEqual({ from: 12, limit: 1000 });
  });

  it.each([
    ['from', { from: '-1' }],
    ['from', { from: 'abc' }],
    ['from', { from: ['1', '2'] }],
    ['limit', { limit: '0' }],
    ['limit', { limit: '1001' }],
    ['limit', { limit: '1e3' }],
  ])('answers 400 naming %s', (field, query) => {
    expect(fieldOf(() => parseListMessages(query))).toBe(field);
  });
});
