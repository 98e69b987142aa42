import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ExpressAdapter } from '@nestjs/platform-express';
import type { FastifyAdapter } from '@nestjs/platform-fastify';
import { existsSync } from 'node:fs';
import { CHAT_OPTIONS, ChatOptions } from '../chat.options';

/**
 * Serves the web page folder at `/`. It is mounted from onModuleInit because Nest runs that hook
 * after it has mounted the controllers' routes and before its 404 handler: so an API route always
 * wins over a file of the same name, and a path that is neither still gets Nest's JSON 404.
 * (Mounted in main.ts before listen(), the files would come first.)
 */
@Injectable()
export class WebPage implements OnModuleInit {
  private readonly logger = new Logger('ChatWebPage');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CHAT_OPTIONS) private readonly options: ChatOptions,
  ) {}

  onModuleInit(): void {
    const dir = this.options.publicDir;
    if (dir === null) return;
    if (!existsSync(dir)) {
      this.logger.warn(`no web page: ${dir} does not exist (the API works without it)`);
      return;
    }
    const adapter = this.adapterHost.httpAdapter as ExpressAdapter | FastifyAdapter | undefined;
    if (adapter === undefined || typeof adapter.useStaticAssets !== 'function') return;
    // Fastify's router picks the API route over the files' wildcard whatever the order.
    if (adapter.getType() === 'fastify') void (adapter as FastifyAdapter).useStaticAssets({ root: dir, index: 'index.html', maxAge: 0 });
    else (adapter as ExpressAdapter).useStaticAssets(dir, { index: 'index.html', maxAge: 0 });
  }
}
