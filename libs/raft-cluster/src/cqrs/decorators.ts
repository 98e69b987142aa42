import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { LeaderOnlyInterceptor, LeaderOnlyOptions } from '../http/leader-only.interceptor';
import { LEADER_ONLY, QUERY_CONSISTENCY, REPLICATED_COMMAND, REPLICATED_EVENT, REPLICATED_STATE } from '../raft-cluster.constants';

export type ReadConsistency = 'local' | 'linearizable';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

type Ctor = abstract new (...args: never[]) => unknown;

/** Name -> class of every `@Replicated` command and `@ReplicatedEvent` event loaded in this process. */
export const replicatedCommands = new Map<string, Ctor>();
export const replicatedEvents = new Map<string, Ctor>();

function register(kind: string, registry: Map<string, Ctor>, key: string, name: string): ClassDecorator {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new TypeError(`@${kind}: name must be 1-128 characters of letters, digits, ".", "_", ":" or "-", got ${JSON.stringify(name)}`);
  }
  return (target) => {
    const existing = registry.get(name);
    // The same class may be decorated again when a module is loaded twice (jest module registries).
    if (existing !== undefined && existing !== (target as unknown) && existing.name !== target.name) {
      throw new TypeError(`@${kind}('${name}') is already used by ${existing.name}; names must be unique`);
    }
    registry.set(name, target as unknown as Ctor);
    Reflect.defineMetadata(key, name, target);
  };
}

/**
 * Marks a command as replicated under a stable name (part of the log format: never rename it).
 * `commandBus.execute(cmd)` on any node then proposes it to the Raft log (a follower forwards it to
 * the leader), and its ordinary `@CommandHandler` applies it on every node in log order. The caller
 * gets the leader's result. Command fields must be JSON-serialisable; the handler receives an object
 * of the command's class with those fields (the constructor is not run again).
 */
export function Replicated(name: string): ClassDecorator {
  return register('Replicated', replicatedCommands, REPLICATED_COMMAND, name);
}

/**
 * Marks an event as broadcast: published outside an apply (`eventBus.publish(evt)` in a controller,
 * say), it goes through the Raft log once and reaches every node's `EventBus` exactly once, in log
 * order. Events published while a command is applied need no mark: apply runs on every node.
 */
export function ReplicatedEvent(name: string): ClassDecorator {
  return register('ReplicatedEvent', replicatedEvents, REPLICATED_EVENT, name);
}

/** Default read consistency of a query class (`local` when absent); a request may still ask for more. */
export function Consistency(level: ReadConsistency): ClassDecorator {
  if (level !== 'local' && level !== 'linearizable') throw new TypeError(`@Consistency: 'local' or 'linearizable', got ${JSON.stringify(level)}`);
  return (target) => Reflect.defineMetadata(QUERY_CONSISTENCY, level, target);
}

/** Marks a route (or every route of a controller) as served by the leader only. */
export function LeaderOnly(options: LeaderOnlyOptions = {}): MethodDecorator & ClassDecorator {
  if (options.mode !== undefined && !['forward', 'redirect', 'reject'].includes(options.mode)) {
    throw new TypeError(`@LeaderOnly: mode must be 'forward', 'redirect' or 'reject', got ${JSON.stringify(options.mode)}`);
  }
  // Without a mode the module option leaderOnlyMode decides (default 'forward'). The interceptor is bound
  // to the marked routes only: an app-wide one would cost every request of the app its Nest interceptor chain.
  return applyDecorators(SetMetadata(LEADER_ONLY, { mode: options.mode }), UseInterceptors(LeaderOnlyInterceptor));
}

/**
 * Registers a provider's state with the replicated state machine: it is included in snapshots (and
 * restored from them on restart and InstallSnapshot) and in the state digest that detects diverged
 * replicas. The class implements {@link ReplicatedStateStore}; `InMemoryStore` is a ready one.
 */
export function ReplicatedState(name: string): ClassDecorator {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) throw new TypeError(`@ReplicatedState: bad name ${JSON.stringify(name)}`);
  return (target) => Reflect.defineMetadata(REPLICATED_STATE, name, target);
}

export function replicatedCommandName(command: object): string | undefined {
  return Reflect.getMetadata(REPLICATED_COMMAND, command.constructor) as string | undefined;
}

export function replicatedEventName(event: object): string | undefined {
  return Reflect.getMetadata(REPLICATED_EVENT, event.constructor) as string | undefined;
}
