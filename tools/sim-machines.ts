import type { SimMachineFactory } from '@raft-cqrs/raft/testing';

export type MachineMode = 'kv' | 'cqrs' | 'mixed';

export const MACHINE_MODES: readonly MachineMode[] = ['kv', 'cqrs', 'mixed'];

/**
 * Which state machine a seed's nodes apply to: the simulator's key-value model (undefined: the
 * default), or the production CQRS state machine (`cqrs`, from `@raft-cqrs/raft-cluster/testing` or a
 * mutant's copy of it). `mixed`, the default of `npm run sim` and of the mutant runs, gives every 4th
 * seed to the CQRS one: the seeds keep the runs they had, and a quarter prove the production machine.
 */
export function machineFor(seed: number, mode: MachineMode, cqrs: SimMachineFactory): SimMachineFactory | undefined {
  if (mode === 'cqrs' || (mode === 'mixed' && seed % 4 === 0)) return cqrs;
  return undefined;
}
