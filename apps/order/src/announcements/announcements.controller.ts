import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { RaftClusterService } from '@raft-cqrs/raft-cluster';
import { badField, requireObjectBody } from '../http/input';
import type { Announcement } from './announcement-feed';
import { AnnouncementFeed } from './announcement-feed';
import { ShopAnnouncementEvent } from './shop-announcement.event';

const MAX_MESSAGE_LENGTH = 500;

@Controller('announcements')
export class AnnouncementsController {
  constructor(
    private readonly eventBus: EventBus,
    private readonly feed: AnnouncementFeed,
    private readonly cluster: RaftClusterService,
  ) {}

  /**
   * 202: publishing a replicated event does not wait for the log (the bus logs a warning if the entry
   * is never committed, for example with no leader for the whole forwarding timeout).
   */
  @Post()
  @HttpCode(202)
  announce(@Body() body: unknown): { accepted: true } {
    const message = requireObjectBody(body).message;
    if (typeof message !== 'string' || message.length === 0 || message.length > MAX_MESSAGE_LENGTH) {
      throw badField('message', `message must be a string of 1 to ${MAX_MESSAGE_LENGTH} characters`);
    }
    this.eventBus.publish(new ShopAnnouncementEvent(message));
    return { accepted: true };
  }

  /** What this node received, oldest first (each node answers from its own feed). */
  @Get()
  latest(): { memberId: string; announcements: Announcement[] } {
    return { memberId: this.cluster.memberId, announcements: this.feed.latest() };
  }
}
