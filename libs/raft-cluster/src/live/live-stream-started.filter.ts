import { Catch, ExceptionFilter } from '@nestjs/common';

/**
 * How a `@LiveQuery()` route tells Nest that it is done with a request whose answer became an event
 * stream: the stream lives on by itself, and Nest must neither send an answer nor keep the request
 * open. An interceptor that wraps the route from outside sees it as an error; it is not one.
 */
export class LiveStreamStarted extends Error {
  constructor() {
    super('the answer is a live query event stream');
    this.name = 'LiveStreamStarted';
  }
}

/** Bound with `@LiveQuery()`: {@link LiveStreamStarted} ends the request without an answer from Nest. */
@Catch(LiveStreamStarted)
export class LiveStreamStartedFilter implements ExceptionFilter {
  catch(): void {
    // The response belongs to the stream now.
  }
}
