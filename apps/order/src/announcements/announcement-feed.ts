import { Injectable } from '@nestjs/common';

export interface Announcement {
  message: string;
  /** Raft log index of the announcement: the same on every node, and their order. */
  index: number;
  /** ISO time at which the leader put it in the log. */
  at: string;
}

/** Announcements kept for the page. */
const KEEP = 100;

/**
 * This node's latest announcements, for the clients it serves. Node-local memory, not replicated state:
 * every node fills its own from the events it receives. After a restart it holds the announcements of
 * the log it replays (those since its last snapshot), which is what a feed of recent news needs.
 */
@Injectable()
export class AnnouncementFeed {
  private readonly items: Announcement[] = [];

  add(announcement: Announcement): void {
    this.items.push(announcement);
    if (this.items.length > KEEP) this.items.splice(0, this.items.length - KEEP);
  }

  latest(): Announcement[] {
    return [...this.items];
  }
}
