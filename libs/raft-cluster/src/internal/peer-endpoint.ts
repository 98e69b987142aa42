import * as http from 'node:http';
import { mountPeerHandler, PeerRequestHandler } from '@raft-cqrs/raft/transport';
import type { AdmissionControl } from './admission';

/**
 * Where this node serves the Raft peer endpoints (`/raft/*`), with the admission check in front of the
 * app's routes: on the app's own `node:http` server, peer requests first and every other request past
 * the admission check before the platform sees it; with `peerPort`, on a server of their own, and the
 * app's server gets the admission check alone.
 */
export class PeerEndpoint {
  private readonly unmounts: (() => void)[] = [];
  private peerServer: http.Server | null = null;

  constructor(
    private readonly appServer: unknown,
    private readonly at: { peerPort: number | null; peerHost: string },
  ) {}

  async open(peerHandler: PeerRequestHandler, admission: AdmissionControl): Promise<void> {
    if (this.at.peerPort === null) {
      const server = this.appServer;
      if (!(server instanceof http.Server)) {
        throw new Error(
          'RaftClusterModule: the peer endpoints need the app\'s node:http server (NestFactory.create on the Express or Fastify platform); for a standalone application context, set the option "peerPort"',
        );
      }
      const handler: PeerRequestHandler = Object.assign((req: http.IncomingMessage, res: http.ServerResponse): boolean => peerHandler(req, res) || admission.shed(req, res), {
        closeStreams: () => peerHandler.closeStreams?.(),
      });
      this.unmounts.push(mountPeerHandler(server, handler));
      return;
    }
    await this.listenOnPeerPort(this.at.peerPort, peerHandler);
    if (this.appServer instanceof http.Server) {
      const server = this.appServer;
      const requestTimeout = server.requestTimeout;
      this.unmounts.push(mountPeerHandler(server, (req, res) => admission.shed(req, res)));
      server.requestTimeout = requestTimeout; // no long-lived peer streams on this server
    }
  }

  async close(): Promise<void> {
    for (const unmount of this.unmounts.splice(0)) unmount();
    const server = this.peerServer;
    this.peerServer = null;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  private async listenOnPeerPort(port: number, handler: PeerRequestHandler): Promise<void> {
    const server = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'not_found', message: 'this port serves the Raft peer endpoints (/raft/*) only' }));
    });
    this.unmounts.push(mountPeerHandler(server, handler));
    this.peerServer = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new Error(`RaftClusterModule: cannot listen on peerPort ${port} (${this.at.peerHost}): ${err.code ?? err.message}`));
      server.once('error', onError);
      server.listen(port, this.at.peerHost, () => {
        server.off('error', onError);
        resolve();
      });
    });
  }
}
