import { randomUUID } from 'node:crypto';
import { NotLeaderError } from '@raft-cqrs/raft';
import { currentRequestContext } from '../http/request-context';
import { ClusterHttpError, RETRY_AFTER_SECONDS } from '../raft-cluster.errors';
import type { RaftClusterLogger } from '../raft-cluster.logger';
import type { RaftClusterMetrics } from '../raft-cluster.metrics';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import type { RaftClusterService } from '../raft-cluster.service';
import { dispatchRequestId, RaftApplyContext } from './apply-context';
import { CommandForwarder, ForwardedCommandTarget } from './command-forwarder';
import { replicatedCommandName } from './decorators';
import { encodeBatchRequest, encodeCommandRequest, EncodedRequest, encodeEventRequest, oversizeReason, Traced } from './envelope';
import { LeaderProposals } from './leader-proposals';
import { jsonTextForLog, RaftPayloadCodec } from './payload';
import { PendingCommands } from './pending-commands';

/**
 * A command's or event's own fields as they travel in the log, as JSON text: through the app's codec, or
 * after a check that JSON carries every field faithfully (400 naming the command and the field otherwise).
 */
export function encodePayload(codec: RaftPayloadCodec | null, kind: 'command' | 'event', name: string, obj: object): string {
  const out = jsonTextForLog(codec, { ...(obj as Record<string, unknown>) });
  if (out.bad !== null) {
    throw new ClusterHttpError(
      400,
      `unserializable_${kind}`,
      `${kind} "${name}": ${out.bad.said}; the log carries JSON, so every node would see something else. Send plain JSON values, or set the codec option`,
      { [kind]: name, field: out.bad.path },
    );
  }
  return out.text;
}

/** A command dispatched while `ctx`'s entry is applied: same correlation, caused by that entry's command. */
function causedBy(ctx: RaftApplyContext): Traced {
  const t: Traced = {};
  if (ctx.correlationId !== null) t.co = ctx.correlationId;
  if (ctx.requestId !== null) t.ca = ctx.requestId;
  return t;
}

/**
 * Takes `@Replicated` commands (and broadcast events) to the log: encodes them once, bounds how many
 * wait here, and has the main group submit them at the leader of the moment (proposed here, or sent to
 * the leader by the {@link CommandForwarder}) with one request id across leader changes, so that a retry
 * of an entry that did commit is answered from the session table instead of applied again.
 */
export class CommandSubmitter implements ForwardedCommandTarget {
  readonly pending = new PendingCommands();
  readonly forwarder: CommandForwarder;
  private readonly proposals: LeaderProposals;

  constructor(
    private readonly options: ResolvedRaftClusterOptions,
    metrics: RaftClusterMetrics,
    private readonly cluster: RaftClusterService,
    private readonly logger: RaftClusterLogger,
  ) {
    this.proposals = new LeaderProposals((bytes) => cluster.propose(bytes));
    this.forwarder = new CommandForwarder(options, metrics, this);
  }

  // ---------------------------------------------------------------- what the buses submit

  async execute(name: string, command: object): Promise<unknown> {
    const result = await this.submit(encodeCommandRequest(name, encodePayload(this.codec, 'command', name, command), this.nextRequestId(), this.trace()));
    return this.codec === null ? result : this.codec.decode(result);
  }

  /** The commands in one log entry, all or nothing; every command must be `@Replicated`. */
  async executeAll(commands: object[]): Promise<unknown[]> {
    if (!Array.isArray(commands) || commands.length === 0) throw new ClusterHttpError(400, 'bad_request', 'executeAll needs at least one command');
    const c = commands.map((cmd, i) => {
      const n = cmd !== null && typeof cmd === 'object' ? replicatedCommandName(cmd) : undefined;
      if (n === undefined) throw new ClusterHttpError(400, 'unknown_command', `command ${i} of the batch is not @Replicated`);
      return { n, pj: encodePayload(this.codec, 'command', n, cmd) };
    });
    const results = (await this.submit(encodeBatchRequest(c, this.nextRequestId(), this.trace()))) as unknown[];
    return this.codec === null ? results : results.map((v) => this.codec!.decode(v));
  }

  /**
   * A replicated command dispatched while an entry is applied (by a handler or a saga reacting to an
   * apply event) runs on every node: only the leader proposes it, with a request id derived from the
   * entry, so that it enters the log once. It is not awaited (the apply would wait for itself), and it
   * never throws into the apply: only the leader gets here, and a failure on one node only would diverge.
   */
  dispatchFromApply(ctx: RaftApplyContext, name: string, command: object): void {
    if (!this.cluster.isLeader) return;
    const r = dispatchRequestId(ctx);
    Promise.resolve()
      .then(() => this.submit(encodeCommandRequest(name, encodePayload(this.codec, 'command', name, command), r, causedBy(ctx))))
      .catch((err: unknown) => this.logger.warn(`command ${name} dispatched while applying entry ${ctx.index} failed: ${(err as Error).message}`));
  }

  /** Publishes a `@ReplicatedEvent` through the log; a failure is logged (publish has no outcome to give). */
  broadcast(name: string, event: object): void {
    this.submit(encodeEventRequest(name, encodePayload(this.codec, 'event', name, event), this.trace())).catch((err: unknown) => {
      this.logger.warn(`broadcast event ${name} was not published: ${(err as Error).message}`);
    });
  }

  // ---------------------------------------------------------------- the leader's side

  isLeader(): boolean {
    return this.cluster.isLeader;
  }

  leaderId(): string | null {
    return this.cluster.leaderId;
  }

  propose(req: EncodedRequest, deadline: number): Promise<unknown> {
    return this.proposals.propose(req, deadline);
  }

  /** Follows the main group's leadership: commands waiting here or at a deposed leader are tried again. */
  onLeadershipLost(): void {
    this.proposals.leadershipLost();
  }

  onLeaderChanged(leaderId: string | null): void {
    if (leaderId !== null) this.forwarder.leaderChanged(leaderId);
  }

  close(): void {
    this.proposals.close();
    this.forwarder.close();
  }

  // ---------------------------------------------------------------- internals

  private get codec(): RaftPayloadCodec | null {
    return this.options.codec;
  }

  /** The request's correlation id, if it brought one (otherwise the command's request id stands for it at apply). */
  private trace(): Traced {
    const co = currentRequestContext()?.correlationId;
    return co == null ? {} : { co };
  }

  /** The client's request id for the n-th command of this HTTP request, or a fresh one. */
  private nextRequestId(): string {
    const rc = currentRequestContext();
    if (rc?.requestId != null) {
      const n = rc.commands++;
      return n === 0 ? rc.requestId : `${rc.requestId}#${n}`;
    }
    return randomUUID();
  }

  private submit(req: EncodedRequest): Promise<unknown> {
    const tooLarge = oversizeReason(req, this.options.maxCommandBytes);
    if (tooLarge !== null) return Promise.reject(new ClusterHttpError(413, 'payload_too_large', tooLarge));
    const group = this.cluster.group;
    if (group === null) {
      return Promise.reject(new ClusterHttpError(503, 'not_started', 'the cluster node has not started yet', {}, { 'Retry-After': RETRY_AFTER_SECONDS }));
    }
    return this.pending.run(() =>
      group.submit({
        here: (deadline) => this.proposals.propose(req, deadline),
        atLeader: (leaderId, _url, deadline) => {
          const peerUrl = this.cluster.leaderPeerUrl();
          if (peerUrl === null) return Promise.reject(new NotLeaderError(null));
          return this.forwarder.send(peerUrl, leaderId, req, deadline);
        },
      }),
    );
  }
}
