import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { AbstractHttpAdapter, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { registerJsonBodyParser } from './fastify-json-body';
import { HttpPlatform } from './http-platform';

/** Express's default JSON limit, kept on both platforms so an app behaves the same on either. */
export const DEFAULT_BODY_LIMIT_BYTES = 100 * 1024;

/** Longest path parameter Fastify's router passes to a route (ids here are 64-128 characters). */
const MAX_PATH_PARAM_LENGTH = 2048;

export interface HttpAdapterOptions {
  /** Largest JSON request body in bytes; a larger one is refused with 413. Default 100 KiB. */
  bodyLimit?: number;
}

export interface CreateRaftAppOptions extends NestApplicationOptions, HttpAdapterOptions {
  /** Default `express`. Fastify needs `@nestjs/platform-fastify` installed. */
  platform?: HttpPlatform;
  /** A folder served as static files at `/` (Fastify needs `@fastify/static` installed). */
  staticAssets?: string;
}

/** The platform packages are optional peers: loaded only by an app that picks them. */
function loadPlatform<T>(name: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (err) {
    throw new Error(`HTTP platform package ${name} is not installed (npm install ${name}): ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The Nest HTTP adapter of `platform`, for `NestFactory.create` or `Test...createNestApplication`: one
 * JSON body limit on both, and JSON is the only body parsed (no urlencoded parser looking at every
 * request). Express leaves other bodies unread (`@Body()` is undefined); Fastify reads `text/plain` as a
 * string and refuses other content types with 415.
 */
export function createHttpAdapter(platform: HttpPlatform, options: HttpAdapterOptions = {}): AbstractHttpAdapter {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES;
  if (platform === 'fastify') {
    const { FastifyAdapter } = loadPlatform<typeof import('@nestjs/platform-fastify')>('@nestjs/platform-fastify');
    const adapter = new FastifyAdapter({
      bodyLimit,
      // Fastify's router refuses a path parameter over 100 characters before any route sees it: let the
      // routes' own checks name the field (Express has no such limit).
      routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
      // What the router itself refuses (a bad URL encoding, a parameter past the limit) answers in the
      // module's `{ error, message }` shape, like every other refusal.
      frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
        const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
        void reply.code(status).send({ error: status === 414 ? 'uri_too_long' : 'bad_request', message: err.message });
      },
    });
    adapter.registerParserMiddleware = (_prefix?: string, rawBody?: boolean): void => {
      registerJsonBodyParser(adapter.getInstance(), bodyLimit, rawBody ?? false);
    };
    return adapter;
  }
  const { ExpressAdapter } = loadPlatform<typeof import('@nestjs/platform-express')>('@nestjs/platform-express');
  const adapter = new ExpressAdapter();
  // What NestFactory's `bodyParser: false` + `useBodyParser('json', { limit })` would do, before the app exists.
  adapter.registerParserMiddleware = (_prefix?: string, rawBody?: boolean): void => {
    adapter.useBodyParser('json', rawBody ?? false, { limit: bodyLimit });
  };
  return adapter;
}

/**
 * `NestFactory.create` on the platform an app picks (the sample apps: `HTTP_PLATFORM`), with the same
 * body limit and error answers on both.
 */
export async function createRaftApp(module: Parameters<typeof NestFactory.create>[0], options: CreateRaftAppOptions = {}): Promise<INestApplication> {
  const { platform = 'express', bodyLimit, staticAssets, ...appOptions } = options;
  const app = await NestFactory.create(module, createHttpAdapter(platform, { bodyLimit }), appOptions);
  if (staticAssets !== undefined) {
    if (platform === 'fastify') (app as NestFastifyApplication).useStaticAssets({ root: staticAssets });
    else (app as NestExpressApplication).useStaticAssets(staticAssets);
  }
  return app;
}
