import type { DiscoveryService } from '@nestjs/core';
import type { RaftPayloadCodec } from '../cqrs/payload';
import { EVENT_PROCESSOR } from '../raft-cluster.constants';
import { EventJournal, JournalEvent, journalName } from './event-journal';
import type { EventProcessorHandler, EventProcessorMetadata } from './event-processor.decorator';
import type { DiscoveredProcessor } from './event-processors';

type EventClass = abstract new (...args: never[]) => object;

/** The app's `@EventProcessor` providers; names must be unique. */
export function discoverProcessors(discovery: DiscoveryService): DiscoveredProcessor[] {
  const found: DiscoveredProcessor[] = [];
  const names = new Set<string>();
  for (const wrapper of discovery.getProviders()) {
    const { metatype, instance } = wrapper;
    if (typeof metatype !== 'function' || instance === null || instance === undefined) continue;
    const meta = Reflect.getMetadata(EVENT_PROCESSOR, metatype) as EventProcessorMetadata | undefined;
    if (meta === undefined) continue;
    if (typeof (instance as Partial<EventProcessorHandler>).handle !== 'function') {
      throw new Error(`@EventProcessor('${meta.name}') on ${metatype.name}: the class must have a handle(event, meta) method`);
    }
    if (names.has(meta.name)) throw new Error(`@EventProcessor('${meta.name}') is used twice; processor names must be unique (they name checkpoints)`);
    names.add(meta.name);
    found.push({ meta, instance: instance as EventProcessorHandler });
  }
  return found;
}

/** The most bytes of event fields the journal keeps, whatever `maxEventLag` allows. */
const JOURNAL_MAX_BYTES = 64 * 1024 * 1024;

/** The journal that keeps what these processors handle. */
export function journalFor(processors: readonly DiscoveredProcessor[], maxEventLag: number): EventJournal {
  const names = new Set<string>();
  for (const p of processors) for (const cls of p.meta.events) names.add(journalName(cls));
  const allOnce = processors.every((p) => p.meta.mode === 'once');
  return new EventJournal({ names, maxEventLag, maxBytes: JOURNAL_MAX_BYTES, consumers: allOnce ? processors.map((p) => p.meta.name) : null });
}

/**
 * Turns a journaled event back into an object of its class (the constructor is not run, as for commands
 * read from the log): the same object whether it is handled at once or after a restart.
 */
export function eventDecoder(processors: readonly DiscoveredProcessor[], codec: RaftPayloadCodec | null): (e: JournalEvent) => object {
  const classes = new Map<string, EventClass>();
  for (const p of processors) for (const cls of p.meta.events) classes.set(journalName(cls), cls);
  return (e) => {
    const cls = classes.get(e.name);
    const obj = Object.create((cls ?? Object).prototype as object) as object;
    const fields = codec === null ? e.payload : codec.decode(e.payload);
    if (fields !== null && typeof fields === 'object') Object.assign(obj, fields);
    return obj;
  };
}
