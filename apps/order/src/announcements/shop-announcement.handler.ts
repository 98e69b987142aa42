import { EventsHandler, IEventHandler } from '@nestjs/cqrs';
import { currentApplyContext } from '@raft-cqrs/raft-cluster';
import { AnnouncementFeed } from './announcement-feed';
import { ShopAnnouncementEvent } from './shop-announcement.event';

/** Runs on every node, once per announcement, while the announcement's log entry is applied. */
@EventsHandler(ShopAnnouncementEvent)
export class ShopAnnouncementHandler implements IEventHandler<ShopAnnouncementEvent> {
  constructor(private readonly feed: AnnouncementFeed) {}

  handle(event: ShopAnnouncementEvent): void {
    // A broadcast event is delivered inside the apply of its entry: index and time are the entry's.
    const entry = currentApplyContext();
    if (entry === undefined) return;
    this.feed.add({ message: event.message, index: entry.index, at: new Date(entry.timestamp).toISOString() });
  }
}
