import { CanActivate, ExecutionContext, Inject, Injectable, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ReplayCache } from '@raft-cqrs/raft/transport';
import { isObservable, lastValueFrom } from 'rxjs';
import type { ClusterRequest } from '../controllers/http-types';
import { RAFT_CLUSTER_OPTIONS } from '../raft-cluster.constants';
import { ClusterHttpError } from '../raft-cluster.errors';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { bearerToken, tokenMatches } from './admin-credential';
import { verifyMemberProof } from './member-proof';

/** Member proofs seen by any guard of this process: a proof is accepted once. */
const memberProofReplays = new ReplayCache(10_000);

export function unauthorized(reason: string): ClusterHttpError {
  return new ClusterHttpError(
    401,
    'unauthorized',
    `${reason}: this endpoint changes the cluster's membership or leadership; send Authorization: Bearer <admin token> (the adminToken option, ADMIN_TOKEN in the sample apps, or the cluster secret when it is unset)`,
    {},
    { 'WWW-Authenticate': 'Bearer realm="raft-cluster"' },
  );
}

/**
 * Guards the routes that change membership or leadership (the module's, and an app's own with
 * `@AdminOnly()`). Passes a request that carries a member proof (one member on the cluster's behalf),
 * else asks the app's `adminGuard` when there is one, else wants `Authorization: Bearer <adminToken>`
 * (the cluster secret when no token is set), compared in constant time. Refusals are 401
 * `{ error: "unauthorized" }` and happen before anything is forwarded or changed.
 */
@Injectable()
export class RaftAdminGuard implements CanActivate {
  private appGuard: Promise<CanActivate> | null = null;

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) protected readonly options: ResolvedRaftClusterOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return false;
    const req = context.switchToHttp().getRequest<ClusterRequest>();
    if (verifyMemberProof(this.options.secret, req.method, req.originalUrl ?? req.url, req.headers, req.body, memberProofReplays)) return true;
    if (this.options.adminGuard !== null) {
      const guard = await this.resolveAppGuard(this.options.adminGuard);
      const verdict = guard.canActivate(context);
      const allowed = isObservable(verdict) ? await lastValueFrom(verdict) : await verdict;
      if (!allowed) throw unauthorized('refused by the app\'s admin guard');
      return true;
    }
    const token = this.options.adminToken;
    // Neither a secret nor a token: a cluster run with insecurePeers, open by choice (warned at start-up).
    if (token === null) return true;
    const presented = bearerToken(req.headers.authorization);
    if (presented === null) throw unauthorized('no admin credential');
    if (!tokenMatches(presented, token)) throw unauthorized('wrong admin credential');
    return true;
  }

  private resolveAppGuard(guard: Type<CanActivate> | CanActivate): Promise<CanActivate> {
    if (typeof guard !== 'function') return Promise.resolve(guard);
    this.appGuard ??= (async (): Promise<CanActivate> => {
      let found: CanActivate | null = null;
      try {
        found = this.moduleRef.get(guard, { strict: false });
      } catch {
        // Not one of the app's providers: Nest builds it with the app's injector.
      }
      return found ?? (await this.moduleRef.create(guard));
    })();
    return this.appGuard;
  }
}

/** The read-only cluster routes (status, status stream, metrics): open unless `protectReads` is set. */
@Injectable()
export class RaftReadGuard extends RaftAdminGuard {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    return this.options.protectReads ? super.canActivate(context) : true;
  }
}
