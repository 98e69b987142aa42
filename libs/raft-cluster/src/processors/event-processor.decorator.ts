import { Injectable } from '@nestjs/common';
import { EVENT_PROCESSOR } from '../raft-cluster.constants';

/**
 * - `every-node`: runs on each node, checkpointed per node (a {@link CheckpointStore}): for work each
 *   node does for itself (a local cache, a search index on that machine).
 * - `once`: runs on the leader only, checkpointed through the Raft log: for side effects the cluster does
 *   once (a webhook, an e-mail), resumed by the next leader where the last checkpoint left it.
 */
export type EventProcessorMode = 'every-node' | 'once';

export interface EventProcessorOptions {
  mode: EventProcessorMode;
  /** The event classes it handles (raised while replicated commands are applied, or broadcast). */
  events: readonly (abstract new (...args: never[]) => object)[];
}

/** What a processor learns about the event it handles besides its fields. */
export interface ProcessedEventMeta {
  /** `<index>:<n>`: the same on every node and on every delivery, for the receiver to de-duplicate on. */
  readonly eventId: string;
  /** Log index of the entry whose apply raised the event. */
  readonly index: number;
  /** The event's name (its `@ReplicatedEvent` name, else its class name). */
  readonly name: string;
  /** The leader's clock when the entry was proposed. */
  readonly timestamp: number;
  /** The id that ties together everything one request caused (from `X-Correlation-ID`, else generated). */
  readonly correlationId: string | null;
  /** The command (its request id) whose apply raised the event. */
  readonly causationId: string | null;
  /** How many times this delivery was tried before, in this process (0 the first time). */
  readonly attempt: number;
}

/** Why a processor is reset: events after its checkpoint are no longer held (it fell too far behind, or the node restored a snapshot past it). */
export interface ProcessorResetInfo {
  readonly processor: string;
  /** Its checkpoint (`<index>:<n>`), or null when it had none. */
  readonly checkpoint: string | null;
  /** It resumes after this event: everything up to it was missed. */
  readonly resumeAfter: string;
}

/**
 * The class an `@EventProcessor` decorates. `handle` may be async; a delivery that throws is tried
 * again with back-off, and the processor does not move past the event until it succeeds.
 */
export interface EventProcessorHandler<E extends object = object> {
  handle(event: E, meta: ProcessedEventMeta): unknown;
  /**
   * Called instead of silently skipping events the processor can no longer get: rebuild from the current
   * state (the stores), then processing resumes after `info.resumeAfter`. Without it a warning is logged.
   */
  reset?(info: ProcessorResetInfo): unknown;
}

export interface EventProcessorMetadata extends EventProcessorOptions {
  name: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Marks a provider as an event processor with a checkpoint (Axon's tracking processors on the Raft log):
 *
 * ```ts
 * @EventProcessor('order-webhook', { mode: 'once', events: [OrderCreatedEvent] })
 * export class OrderWebhook implements EventProcessorHandler<OrderCreatedEvent> {
 *   async handle(event: OrderCreatedEvent, meta: ProcessedEventMeta) { ... }
 * }
 * ```
 *
 * Events reach it in log order, one at a time, at least once; after a restart it resumes after its
 * checkpoint. List the class in the module's providers. It is not an `@EventsHandler`: those still run
 * on every node at apply, and again when the log is replayed.
 */
export function EventProcessor(name: string, options: EventProcessorOptions): ClassDecorator {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new TypeError(`@EventProcessor: name must be 1-64 letters, digits, ".", "_" or "-", got ${JSON.stringify(name)}`);
  }
  if (options?.mode !== 'every-node' && options?.mode !== 'once') {
    throw new TypeError(`@EventProcessor('${name}'): mode must be 'every-node' or 'once', got ${JSON.stringify(options?.mode)}`);
  }
  if (!Array.isArray(options.events) || options.events.length === 0 || options.events.some((e) => typeof e !== 'function')) {
    throw new TypeError(`@EventProcessor('${name}'): events must list the event classes it handles`);
  }
  const metadata: EventProcessorMetadata = { name, mode: options.mode, events: [...options.events] };
  return (target) => {
    Reflect.defineMetadata(EVENT_PROCESSOR, metadata, target);
    Injectable()(target);
  };
}
