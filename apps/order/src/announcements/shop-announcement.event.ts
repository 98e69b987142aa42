import { ReplicatedEvent } from '@raft-cqrs/raft-cluster';

/**
 * A message for every customer, whichever node they are connected to ("Summer sale from Monday",
 * "Deliveries are delayed"). It changes no replicated state, so it is an event, not a command; marked
 * `@ReplicatedEvent`, an `eventBus.publish` outside apply (in the controller) does not fire locally:
 * it goes through the Raft log and then fires once on every node's EventBus, in the same order on all.
 */
@ReplicatedEvent('shop.announcement')
export class ShopAnnouncementEvent {
  constructor(readonly message: string) {}
}
