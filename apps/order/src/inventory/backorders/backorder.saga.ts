import { Injectable } from '@nestjs/common';
import { IEvent, ofType, Saga } from '@nestjs/cqrs';
import { filter, map, Observable } from 'rxjs';
import { StockReceivedEvent } from '../receive-delivery/stock-received.event';
import { BackorderStore } from './backorder.store';
import { FillBackordersCommand } from './fill-backorders/fill-backorders.command';

/**
 * When a delivery brings stock of a product that customers are waiting for, fill their back-orders.
 *
 * Why this does not propose the fill three times in a three-node cluster, although the saga runs on
 * every node (StockReceivedEvent is raised during apply, and apply runs everywhere):
 *
 * - the cluster module gives the EventBus's sagas a command bus that drops their commands on
 *   followers, so only the leader's saga dispatches FillBackordersCommand;
 * - on the leader the saga runs inside the apply of the delivery's entry (the pipe below is
 *   synchronous), so the command is proposed with a request id derived from that entry
 *   (`apply:<index>:<position>:<id from the entry's seed>`), not a fresh one. If the entry is applied
 *   again on a leader (after a restart, or by a new leader that applies it after its election), the
 *   repeat carries the same request id and the session table answers it without applying it twice.
 *
 * Reading BackorderStore here is safe for the same reason: at this point in the log every node holds
 * the same back-orders. The fill command itself re-reads the stock when it is applied, so even a fill
 * that did run twice (a repeat after the session table forgot the id) would fill nothing more.
 *
 * The event fires when the delivery line is applied, not when the delivery is known to succeed: in a
 * delivery (`executeAll`) refused by a later line, the earlier lines' events have already fired and
 * the fill is proposed anyway. It then finds the stock as it was before the delivery and fills only
 * what that covers.
 *
 * What it does not give: a fill is proposed by the leader of the moment, without waiting. If that
 * leader dies between applying the delivery and committing the fill, the fill is not proposed again;
 * the back-orders then wait for the next delivery (or a FillBackordersCommand sent by hand).
 */
@Injectable()
export class BackorderSaga {
  constructor(private readonly backorders: BackorderStore) {}

  @Saga()
  fillAfterDelivery = (events$: Observable<IEvent>): Observable<FillBackordersCommand> =>
    events$.pipe(
      ofType(StockReceivedEvent),
      filter((e) => this.backorders.hasWaiting(e.productId)),
      map((e) => new FillBackordersCommand(e.productId)),
    );
}
