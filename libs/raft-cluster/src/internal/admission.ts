import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedRaftClusterRoutes } from '../controllers/routes';
import { isOpenEventStream } from '../http/event-stream';

export interface AdmissionOptions {
  /** Paths that are always served: what operators and orchestrators need most when a node is overloaded. */
  alwaysServed: RegExp;
  /** Requests in progress on this node beyond which new ones are refused at once. */
  maxInFlight: number;
  /** Once the oldest request in progress has waited this long, new ones are refused (the queue is full in time). */
  maxQueueDelayMs: number;
  onShed?: () => void;
  now?: () => number;
}

/**
 * Requests always let through, whatever the load: health, status, its stream and metrics where the
 * routes and the app's global prefix (`prefix`, e.g. `/api`, or empty) put them, and the peer
 * endpoints (served in front of Nest, so never prefixed).
 */
export function alwaysServedPattern(prefix: string, routes: ResolvedRaftClusterRoutes): RegExp {
  const at = (route: string): string => `${prefix}/${route}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const alternatives = ['/raft/', '/raft-groups/'];
  if (routes.health !== null) alternatives.push(`${at(routes.health)}/`);
  if (routes.cluster !== null) alternatives.push(`${at(routes.cluster)}/(?:status|stream)(?:[/?]|$)`);
  if (routes.metrics !== null) alternatives.push(`${at(routes.metrics)}(?:[/?]|$)`);
  return new RegExp(`^(?:${alternatives.join('|')})`);
}

/** Fewer requests than this in progress are always admitted, however long the oldest has waited. */
const MIN_IN_FLIGHT = 32;

/** How often long-lived answers (event streams) are looked for among the requests in progress. */
const STREAM_SCAN_EVERY_MS = 100;

const SHED_BODY = JSON.stringify({ error: 'overloaded', message: 'this node has more requests in progress than it can answer in time; retry shortly' });

/**
 * Load shedding in front of the app's router: a request refused here costs an HTTP parse and a short
 * answer, not a pass through Express, Nest, the body parser and the command bus. Without it a node at
 * ten times its capacity queued everything, answered after 10 s or never, and stopped answering health
 * checks. Bounded in count and in time: whichever fills first. Event streams (SSE) leave the count once
 * their headers are out: they are long-lived by design, and one open stream older than the queue
 * delay would otherwise have refused every request once 32 were in progress.
 */
export class AdmissionControl {
  private readonly inFlight = new Map<ServerResponse, number>();
  private readonly now: () => number;
  private lastStreamScan = -Infinity;

  constructor(private readonly opts: AdmissionOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.inFlight.size;
  }

  /** Milliseconds the oldest request in progress has waited (0 when none). */
  oldestWaitMs(): number {
    for (const started of this.inFlight.values()) return this.now() - started;
    return 0;
  }

  /**
   * True when the request was refused (the answer is sent); false when it may go on, and then it
   * counts as in progress until its response closes.
   */
  shed(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    if (this.opts.alwaysServed.test(url)) return false;
    let n = this.inFlight.size;
    if (n >= MIN_IN_FLIGHT && this.now() - this.lastStreamScan >= STREAM_SCAN_EVERY_MS) n = this.dropStreams();
    if (n >= this.opts.maxInFlight || (n >= MIN_IN_FLIGHT && this.oldestWaitMs() > this.opts.maxQueueDelayMs)) {
      this.opts.onShed?.();
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(SHED_BODY), 'retry-after': '1' });
      res.end(SHED_BODY);
      // The body, if any, is discarded by Node once the answer is complete; the connection stays usable.
      return true;
    }
    this.inFlight.set(res, this.now());
    res.once('close', () => this.inFlight.delete(res));
    return false;
  }

  /** Takes answers that turned out to be event streams out of the count; the count that is left. */
  private dropStreams(): number {
    this.lastStreamScan = this.now();
    for (const res of this.inFlight.keys()) {
      if (isOpenEventStream(res)) this.inFlight.delete(res);
    }
    return this.inFlight.size;
  }
}
