import type { IncomingHttpHeaders } from 'node:http';

/** What the cluster controllers read from a request (Express's request has all of it). */
export interface ClusterRequest {
  method: string;
  url: string;
  originalUrl?: string;
  headers: IncomingHttpHeaders;
  body?: unknown;
}
