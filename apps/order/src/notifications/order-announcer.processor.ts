import { Inject, Logger } from '@nestjs/common';
import { EventProcessor, EventProcessorHandler, ProcessedEventMeta, ProcessorResetInfo } from '@raft-cqrs/raft-cluster';
import type { Order } from '../domain/order';
import { OrderStore } from '../domain/order.store';
import { OrderCreatedEvent } from '../orders/create-order/order-created.event';
import { NOTIFY_URL } from './notify-url';

/** One announcement waits this long for an answer before it counts as failed (and is retried). */
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * Announces every created order to NOTIFY_URL, once per cluster: a `once` processor runs on the leader
 * only, in log order, and retries until the receiver accepts (any 2xx). A new leader resumes after the
 * last checkpoint, so the receiver may see an announcement again across a leader change: always with the
 * same `Idempotency-Key` (the event id), which is what it de-duplicates on.
 *
 * If the receiver stays down so long that the events after the checkpoint are no longer kept
 * (`maxEventLag`), nothing is lost either: {@link reset} announces the orders created meanwhile from
 * the order store, with the event ids their events had.
 */
@EventProcessor('order-announcements', { mode: 'once', events: [OrderCreatedEvent] })
export class OrderAnnouncer implements EventProcessorHandler<OrderCreatedEvent> {
  private readonly logger = new Logger(OrderAnnouncer.name);

  constructor(
    @Inject(NOTIFY_URL) private readonly url: string,
    private readonly orders: OrderStore,
  ) {}

  async handle(event: OrderCreatedEvent, meta: ProcessedEventMeta): Promise<void> {
    await this.announce(meta.eventId, event, { correlationId: meta.correlationId, causationId: meta.causationId });
    if (meta.attempt > 0) this.logger.log(`order ${event.orderId} announced after ${meta.attempt} failed attempt(s)`);
  }

  /**
   * The events of the orders created after the checkpoint were dropped: the orders themselves are in
   * the store, in creation order, each with the index of the entry that created it. Their events' ids
   * follow: `<index>:<n>`, n counting the orders that entry created (one, or several when backorders
   * are filled). A failure here is retried like a delivery.
   */
  async reset(info: ProcessorResetInfo): Promise<void> {
    const after = Number((info.checkpoint ?? '0:0').split(':')[0]);
    const upTo = Number(info.resumeAfter.split(':')[0]);
    const missed: Order[] = [];
    for (const order of this.orders.values()) if (order.index > after && order.index <= upTo) missed.push(order);
    missed.sort((a, b) => a.index - b.index); // stable: creation order within an entry
    this.logger.warn(`announcing ${missed.length} order(s) created while their events were no longer kept (after ${info.checkpoint ?? 'the start'}, up to ${info.resumeAfter})`);
    let n = 0;
    for (let i = 0; i < missed.length; i++) {
      n = i > 0 && missed[i - 1].index === missed[i].index ? n + 1 : 0;
      await this.announce(`${missed[i].index}:${n}`, missed[i], { correlationId: null, causationId: null });
    }
  }

  private async announce(eventId: string, order: Pick<Order, 'orderId' | 'productId' | 'quantity'>, trace: { correlationId: string | null; causationId: string | null }): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': eventId };
    if (trace.correlationId !== null) headers['x-correlation-id'] = trace.correlationId;
    if (trace.causationId !== null) headers['x-causation-id'] = trace.causationId;
    const body = JSON.stringify({ eventId, orderId: order.orderId, productId: order.productId, quantity: order.quantity });
    const res = await fetch(this.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    // The body is not needed; reading it frees the connection for the next announcement.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`${this.url} answered ${res.status} to order ${order.orderId}`);
  }
}
