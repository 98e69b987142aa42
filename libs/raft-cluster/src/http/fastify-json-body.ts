import type { FastifyInstance } from 'fastify';

/**
 * Bytes of a refused body still read (and dropped), so that the client can finish sending it and read
 * the 413; past this the connection is cut.
 */
const MAX_DRAINED_BYTES = 16 * 1024 * 1024;

function tooLarge(limit: number): Error {
  // Named as Fastify's own errors are, which Nest maps to an HttpException with their status.
  return Object.assign(new Error(`request body over the limit of ${limit} bytes`), { name: 'FastifyError', statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
}

/**
 * Fastify's JSON body parser, with two differences that keep it the same as Express's: an empty body
 * is `{}`, and a body over the limit is read to its end before the 413 goes out. (Fastify answers at
 * once and closes the connection, and a client still sending a large body then fails writing it
 * (EPIPE) instead of reading the answer.) Parsing itself is Fastify's, with its prototype-poisoning
 * checks.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, bodyLimit: number, keepRawBody: boolean): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  if (fastify.hasContentTypeParser('application/json')) fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', (req, payload, done) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    payload.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (!over && size <= bodyLimit) {
        chunks.push(chunk);
        return;
      }
      over = true;
      chunks.length = 0;
      if (size > MAX_DRAINED_BYTES) payload.destroy(tooLarge(bodyLimit));
    });
    payload.on('error', (err: Error) => done(err, undefined));
    payload.on('end', () => {
      if (over) return done(tooLarge(bodyLimit), undefined);
      const body = Buffer.concat(chunks);
      if (keepRawBody) (req as { rawBody?: Buffer }).rawBody = body;
      if (body.length === 0) return done(null, {});
      parseJson(req, body.toString('utf8'), done);
    });
  });
}
