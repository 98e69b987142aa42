import type { Message, NodeId } from '@raft-cqrs/raft';
import type { HttpTransport, PeerStatus } from '@raft-cqrs/raft/transport';
import { groupPeerUrl } from './group-peer';
import type { GroupPeers } from './raft-group';

/**
 * Decides where an extra group's peers are reached: the group's configuration when this node is in one,
 * otherwise the main group's addresses (a node added to a group later must answer the group's leader
 * before its first configuration entry arrives). Member URLs get the group's peer prefix.
 */
export class GroupPeerDirectory implements GroupPeers {
  private fromConf: Record<NodeId, string> = {};

  constructor(
    private readonly transport: HttpTransport,
    private readonly group: string,
    private readonly selfId: string,
    private readonly hints: () => Record<string, string>,
  ) {}

  send(messages: Message[]): void {
    if (messages.length > 0) this.transport.send(messages);
  }

  setPeers(addresses: Record<NodeId, string>): void {
    this.fromConf = { ...addresses };
    this.refresh();
  }

  /** Re-reads the hints (the main group's membership changed). */
  refresh(): void {
    const source = Object.keys(this.fromConf).length > 0 ? { ...this.hints(), ...this.fromConf } : this.hints();
    const peers: Record<NodeId, string> = {};
    for (const [id, url] of Object.entries(source)) if (id !== this.selfId) peers[id] = groupPeerUrl(url, this.group);
    this.transport.setPeers(peers);
  }

  peerStatus(): Record<string, PeerStatus> {
    return this.transport.peerStatus();
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
