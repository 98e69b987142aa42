import { ArgumentsHost, Catch } from '@nestjs/common';
import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import { ClusterExceptionFilter } from './cluster-exception.filter';
import { ClusterHttpError, LeaderUnavailableError } from '../raft-cluster.errors';
import { RelayedAnswer } from './relayed-answer';

/**
 * Installed app-wide by the module, for the cluster's own errors only (no leader, lost proposal,
 * overload, a relayed leader answer...): each gets its status, `{ error, message }` body and headers
 * (`Retry-After`, `Location`), rendered as `ClusterExceptionFilter` renders them. Every other error is
 * left to the app's filters.
 */
@Catch(ClusterHttpError, NotLeaderError, RaftError, NodeStoppedError, ProposalLostError, LeaderUnavailableError, RelayedAnswer)
export class ClusterErrorFilter extends ClusterExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    super.catch(exception, host);
  }
}
