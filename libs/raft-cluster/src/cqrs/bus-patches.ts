import type { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import { currentRequestContext } from '../http/request-context';
import { QUERY_CONSISTENCY } from '../raft-cluster.constants';
import { currentApplyContext, isApplying, recordRaisedEvent } from './apply-context';
import type { CommandSubmitter } from './command-submitter';
import { ReadConsistency, replicatedCommandName, replicatedEventName } from './decorators';

/** What the patched buses need of the cluster. */
export interface BusPatchDeps {
  submitter: CommandSubmitter;
  isLeader(): boolean;
  readBarrier(): Promise<unknown>;
}

/** The buses' own behaviour, kept for the state machine's apply (which must not go back to the log). */
export interface UnpatchedBuses {
  executeHandler(command: object): Promise<unknown>;
  publishLocal(event: object): void;
  /** Resolves once CqrsModule has registered the handlers and sagas (log replay waits for it). */
  handlersRegistered: Promise<void>;
}

/**
 * Patches the `@nestjs/cqrs` buses on their instances, so that the app's own code needs no other bus:
 *
 * - `CommandBus.execute` of a `@Replicated` command submits it to the log (while an entry is applied, only
 *   the leader proposes it);
 * - `QueryBus.execute` waits for a ReadIndex barrier first when the query class or the request asks for
 *   `linearizable`;
 * - `EventBus.publish` of a `@ReplicatedEvent` outside apply goes through the log;
 * - saga commands are dispatched on the leader only.
 */
export function patchBuses(buses: { commandBus: CommandBus; queryBus: QueryBus; eventBus: EventBus }, deps: BusPatchDeps): UnpatchedBuses {
  const executeHandler = patchCommandBus(buses.commandBus, deps);
  patchQueryBus(buses.queryBus, deps);
  const { publishLocal, handlersRegistered } = patchEventBus(buses.eventBus, buses.commandBus, deps);
  return { executeHandler, publishLocal, handlersRegistered };
}

function patchCommandBus(bus: CommandBus, { submitter }: BusPatchDeps): (command: object) => Promise<unknown> {
  const original = bus.execute.bind(bus) as (command: object, context?: unknown) => Promise<unknown>;
  (bus as { execute: unknown }).execute = (command: object, context?: unknown): Promise<unknown> => {
    const name = command !== null && typeof command === 'object' ? replicatedCommandName(command) : undefined;
    if (name === undefined) return original(command, context);
    const applying = currentApplyContext();
    if (applying === undefined) return submitter.execute(name, command);
    submitter.dispatchFromApply(applying, name, command);
    return Promise.resolve(undefined);
  };
  return (command) => original(command);
}

function patchQueryBus(bus: QueryBus, { readBarrier }: BusPatchDeps): void {
  const original = bus.execute.bind(bus) as (query: object, ...rest: unknown[]) => Promise<unknown>;
  (bus as { execute: unknown }).execute = async (query: object, ...rest: unknown[]): Promise<unknown> => {
    if (consistencyOf(query) === 'linearizable') await readBarrier();
    return original(query, ...rest);
  };
}

function consistencyOf(query: object): ReadConsistency {
  const asked = currentRequestContext()?.consistency;
  if (asked != null) return asked;
  const byClass = query !== null && typeof query === 'object' ? (Reflect.getMetadata(QUERY_CONSISTENCY, query.constructor) as ReadConsistency | undefined) : undefined;
  return byClass ?? 'local';
}

function patchEventBus(bus: EventBus, commandBus: CommandBus, { submitter, isLeader }: BusPatchDeps): Pick<UnpatchedBuses, 'publishLocal' | 'handlersRegistered'> {
  const publish = bus.publish.bind(bus) as (event: object, ...rest: unknown[]) => unknown;
  const publishAll = bus.publishAll.bind(bus) as (events: object[], ...rest: unknown[]) => unknown;
  (bus as { publish: unknown }).publish = (event: object, ...rest: unknown[]): unknown => {
    if (isApplying()) {
      recordRaisedEvent(event);
      return publish(event, ...rest);
    }
    const name = event !== null && typeof event === 'object' ? replicatedEventName(event) : undefined;
    if (name === undefined) return publish(event, ...rest);
    submitter.broadcast(name, event);
    return undefined;
  };
  (bus as { publishAll: unknown }).publishAll = (events: object[], ...rest: unknown[]): unknown => {
    if (!Array.isArray(events)) return publishAll(events, ...rest);
    if (isApplying()) {
      for (const e of events) recordRaisedEvent(e);
      return publishAll(events, ...rest);
    }
    const local: object[] = [];
    for (const e of events) {
      const name = e !== null && typeof e === 'object' ? replicatedEventName(e) : undefined;
      if (name === undefined) local.push(e);
      else submitter.broadcast(name, e);
    }
    return local.length > 0 ? publishAll(local, ...rest) : [];
  };
  // Sagas run on every node (they watch events that fire everywhere); their commands leave from the leader only.
  const sagaCommands = { execute: (command: object): Promise<unknown> => (isLeader() ? commandBus.execute(command as never) : Promise.resolve(undefined)) };
  (bus as unknown as { commandBus: unknown }).commandBus = sagaCommands;
  // CqrsModule registers the handlers in its bootstrap hook, after this module's (global modules go first):
  // log replay waits for the last registration step.
  let markRegistered!: () => void;
  const handlersRegistered = new Promise<void>((resolve) => (markRegistered = resolve));
  const registerSagas = bus.registerSagas.bind(bus);
  bus.registerSagas = (wrappers) => {
    registerSagas(wrappers);
    markRegistered();
  };
  return { publishLocal: (event) => void publish(event), handlersRegistered };
}
