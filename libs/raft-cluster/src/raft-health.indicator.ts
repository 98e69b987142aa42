import { Injectable } from '@nestjs/common';
import { RaftClusterService } from './raft-cluster.service';

/** Same shape as `@nestjs/terminus`'s `HealthIndicatorResult`. */
export type RaftHealthIndicatorResult<Key extends string = string> = Record<
  Key,
  {
    status: 'up' | 'down';
    memberId: string;
    role: string | null;
    leaderId: string | null;
    term: number | null;
    commitIndex: number | null;
    lastApplied: number | null;
    reason?: string;
  }
>;

/**
 * Raft readiness as a terminus-style health indicator (terminus is not a dependency): `up` when a leader
 * is known and this node has applied the commit index it knows, else `down` with the reason.
 *
 * With `@nestjs/terminus` (v11+, which treats a returned `status: 'down'` as a failed check):
 *
 * ```ts
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.raft.isHealthy('raft')]);
 * }
 * ```
 *
 * For older terminus versions use `isHealthyOrThrow`, which throws an error carrying `causes` (the
 * `HealthCheckError` contract).
 */
@Injectable()
export class RaftHealthIndicator {
  constructor(private readonly cluster: RaftClusterService) {}

  async isHealthy<const Key extends string = 'raft'>(key: Key = 'raft' as Key): Promise<RaftHealthIndicatorResult<Key>> {
    const { ready, ...rest } = this.cluster.readiness();
    return { [key]: { status: ready ? 'up' : 'down', memberId: this.cluster.memberId, ...rest } } as RaftHealthIndicatorResult<Key>;
  }

  async isHealthyOrThrow<const Key extends string = 'raft'>(key: Key = 'raft' as Key): Promise<RaftHealthIndicatorResult<Key>> {
    const result = await this.isHealthy(key);
    if (result[key].status === 'up') return result;
    throw new RaftHealthCheckError(`raft: ${result[key].reason ?? 'down'}`, result);
  }
}

/** Shaped like terminus's `HealthCheckError`: `isHealthCheckError` and `causes`. */
export class RaftHealthCheckError extends Error {
  readonly isHealthCheckError = true;
  constructor(
    message: string,
    readonly causes: RaftHealthIndicatorResult,
  ) {
    super(message);
    this.name = 'RaftHealthCheckError';
  }
}
