import type { Message, MessageTransport, NodeId } from '@raft-cqrs/raft';
import type { PeerStatus } from '@raft-cqrs/raft/transport';

/** The part of `HttpTransport` the directory uses (a fake can stand in for it in tests). */
export interface PeerTransport extends MessageTransport {
  peerStatus(): Record<string, PeerStatus>;
}

/**
 * Sits between the RaftNode and the transport and decides where peers are reached:
 *
 * - the node's configuration (from the log) is the source of truth;
 * - while that configuration is empty (a node that is joining and has not yet received its first
 *   configuration entry), addresses learned from the join answer are used, so that it can answer the
 *   leader (peer requests name their sender but not its address);
 * - with `peerPort`, a member URL `http://host:port` is reached at `http://host:peerPort`.
 */
export class PeerDirectory implements MessageTransport {
  private fromConf: Record<NodeId, string> = {};
  private hints: Record<NodeId, string> = {};

  constructor(
    private readonly transport: PeerTransport,
    private readonly selfId: NodeId,
    private readonly peerPort: number | null,
  ) {}

  send(messages: Message[]): void {
    if (messages.length > 0) this.transport.send(messages);
  }

  setPeers(addresses: Record<NodeId, string>): void {
    this.fromConf = { ...addresses };
    this.apply();
  }

  /** Addresses learned outside the log (the join answer); used only while the configuration is empty. */
  addHints(addresses: Record<NodeId, string>): void {
    for (const [id, url] of Object.entries(addresses)) if (id !== this.selfId) this.hints[id] = url;
    this.apply();
  }

  peerStatus(): Record<string, PeerStatus> {
    return this.transport.peerStatus();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** The URL the transport uses for a member URL. */
  peerUrl(memberUrl: string): string {
    if (this.peerPort === null) return memberUrl;
    try {
      const u = new URL(memberUrl);
      u.port = String(this.peerPort);
      return u.origin;
    } catch {
      return memberUrl;
    }
  }

  private apply(): void {
    const source = Object.keys(this.fromConf).length > 0 ? this.fromConf : this.hints;
    const peers: Record<NodeId, string> = {};
    for (const [id, url] of Object.entries(source)) if (id !== this.selfId) peers[id] = this.peerUrl(url);
    this.transport.setPeers(peers);
  }
}
