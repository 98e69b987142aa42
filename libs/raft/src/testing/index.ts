/**
 * `@raft-cqrs/raft/testing`: what this repository proves the engine with, for users who test their own
 * replicated code the same way: a linearizability checker (Wing & Gong / Lowe, per key), a key-value
 * model for it, a seeded random source, and the deterministic cluster simulator (with a port for the
 * state machine its nodes apply to).
 */
export * from './linearizability';
export * from './kv-model';
export { Rng, EventQueue } from './rng';
export { Simulation, runSeed, KvStateMachine } from './sim';
export type { SimOptions, SimResult, Command, CommandResult, SimMachineFactory, SimMachineHost, SimStateMachine } from './sim';
