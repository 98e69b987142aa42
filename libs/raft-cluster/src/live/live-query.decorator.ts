import { applyDecorators, UseFilters, UseInterceptors } from '@nestjs/common';
import { LiveQueryInterceptor } from './live-query.interceptor';
import { LiveStreamStartedFilter } from './live-stream-started.filter';

/**
 * Marks a GET route whose handler returns a query object as a live query. Without
 * `Accept: text/event-stream` the route answers the query's result as JSON, as before; with it, it
 * answers Server-Sent Events: the current value, then one event after each change, `id:` the applied
 * index each value reflects (see {@link LiveQueryInterceptor} and docs/cqrs.md, "Live queries").
 *
 * ```ts
 * @Get(':id')
 * @LiveQuery()
 * get(@Param('id') id: string): GetProductQuery {
 *   return new GetProductQuery(id);
 * }
 * ```
 */
export function LiveQuery(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseInterceptors(LiveQueryInterceptor), UseFilters(LiveStreamStartedFilter));
}
