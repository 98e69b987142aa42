import { Inject, Logger } from '@nestjs/common';
import { EventProcessor, EventProcessorHandler, ProcessedEventMeta } from '@raft-cqrs/raft-cluster';
import { OrderCreatedEvent } from '../orders/create-order/order-created.event';
import { NOTIFY_URL } from './notify-url';

/** One announcement waits this long for an answer before it counts as failed (and is retried). */
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * Announces every created order to NOTIFY_URL, once per cluster: a `once` processor runs on the leader
 * only, in log order, and retries until the receiver accepts (any 2xx). A new leader resumes after the
 * last checkpoint, so the receiver may see an announcement again across a leader change: always with the
 * same `Idempotency-Key` (the event id), which is what it de-duplicates on.
 */
@EventProcessor('order-announcements', { mode: 'once', events: [OrderCreatedEvent] })
export class OrderAnnouncer implements EventProcessorHandler<OrderCreatedEvent> {
  private readonly logger = new Logger(OrderAnnouncer.name);

  constructor(@Inject(NOTIFY_URL) private readonly url: string) {}

  async handle(event: OrderCreatedEvent, meta: ProcessedEventMeta): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': meta.eventId };
    if (meta.correlationId !== null) headers['x-correlation-id'] = meta.correlationId;
    if (meta.causationId !== null) headers['x-causation-id'] = meta.causationId;
    const body = JSON.stringify({ eventId: meta.eventId, orderId: event.orderId, productId: event.productId, quantity: event.quantity });
    const res = await fetch(this.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    // The body is not needed; reading it frees the connection for the next announcement.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`${this.url} answered ${res.status} to order ${event.orderId}`);
    if (meta.attempt > 0) this.logger.log(`order ${event.orderId} announced after ${meta.attempt} failed attempt(s)`);
  }
}
