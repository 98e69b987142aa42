import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { CommandBus, EventBus, QueryBus } from '@nestjs/cqrs';
import { CheckpointStore, FileCheckpointStore, MemoryCheckpointStore } from '../processors/checkpoint-store';
import { EventProcessors } from '../processors/event-processors';
import { discoverProcessors, eventDecoder, journalFor } from '../processors/processor-discovery';
import type { ProcessorStatus } from '../processors/processor-runner';
import { RAFT_CHECKPOINT_STORE, RAFT_CLUSTER_OPTIONS, REPLICATED_STATE } from '../raft-cluster.constants';
import { RaftClusterLogger } from '../raft-cluster.logger';
import { RaftClusterMetrics } from '../raft-cluster.metrics';
import type { ResolvedRaftClusterOptions } from '../raft-cluster.options';
import { RaftClusterService } from '../raft-cluster.service';
import { patchBuses, UnpatchedBuses } from './bus-patches';
import { CommandSubmitter } from './command-submitter';
import { CqrsReplication, DivergenceReport, ForwardedCommandsAnswer, StateDigestStatus } from './cqrs-replication';
import { CqrsStateMachine } from './cqrs-state-machine';
import { encodeEnvelope } from './envelope';
import type { ReplicatedStateStore } from './replicated-store';

/**
 * Connects `@nestjs/cqrs` to the Raft log when the app imports CqrsModule: patches the buses
 * ({@link patchBuses}), submits replicated commands ({@link CommandSubmitter}, which forwards them from
 * a follower), and provides the {@link CqrsStateMachine} that the main group applies when the app gives
 * none. The buses are patched on their instances in `onModuleInit`, before any module's bootstrap hook.
 */
@Injectable()
export class RaftCqrsBridge implements CqrsReplication, OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private machine: CqrsStateMachine | null = null;
  private processors: EventProcessors | null = null;
  private submitter: CommandSubmitter | null = null;
  private buses: UnpatchedBuses | null = null;
  private divergence: (DivergenceReport & { at: string }) | null = null;
  private clusterEvents: { unsubscribe(): void } | null = null;

  constructor(
    @Inject(RAFT_CLUSTER_OPTIONS) private readonly options: ResolvedRaftClusterOptions,
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
    private readonly cluster: RaftClusterService,
    private readonly logger: RaftClusterLogger,
    private readonly metrics: RaftClusterMetrics,
  ) {}

  /** The state machine of the main group, or null without `@nestjs/cqrs`. */
  get stateMachine(): CqrsStateMachine | null {
    return this.machine;
  }

  onModuleInit(): void {
    const find = <T>(token: abstract new (...args: never[]) => T): T | null => {
      try {
        return this.moduleRef.get(token as never, { strict: false }) as T;
      } catch {
        return null;
      }
    };
    const commandBus = find(CommandBus);
    const queryBus = find(QueryBus);
    const eventBus = find(EventBus);
    if (commandBus === null || queryBus === null || eventBus === null) {
      const orphans = discoverProcessors(this.discovery);
      if (orphans.length > 0) throw new Error(`@EventProcessor('${orphans[0].meta.name}') needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule`);
      return;
    }
    const submitter = (this.submitter = new CommandSubmitter(this.options, this.metrics, this.cluster, this.logger));
    this.buses = patchBuses({ commandBus, queryBus, eventBus }, { submitter, isLeader: () => this.cluster.isLeader, readBarrier: () => this.cluster.readBarrier() });
    const found = discoverProcessors(this.discovery);
    const journal = found.length > 0 ? journalFor(found, this.options.maxEventLag) : null;
    this.machine = new CqrsStateMachine(this.applyHost(), this.discoverStores(), {
      maxSessions: this.options.maxSessions,
      digestInterval: this.options.digestInterval,
      codec: this.options.codec,
      journal,
    });
    if (journal !== null) {
      this.processors = new EventProcessors(
        found,
        journal,
        this.checkpointStore(),
        {
          isLeader: () => this.cluster.isLeader,
          readBarrier: () => this.cluster.readBarrier(),
          proposeCheckpoints: (c) => this.cluster.propose(encodeEnvelope({ v: 1, k: 'ckpt', c })),
        },
        eventDecoder(found, this.options.codec),
        this.logger,
        this.metrics,
      );
    }
    const processors = this.processors;
    this.clusterEvents = this.cluster.events$.subscribe((e) => {
      if (e.type === 'role-changed' && e.previousRole === 'leader' && e.role !== 'leader') submitter.onLeadershipLost();
      if (e.type === 'leader-changed') submitter.onLeaderChanged(e.leaderId);
      if (e.type === 'role-changed') processors?.leadershipChanged(e.role === 'leader');
    });
  }

  /** The processors resume from their checkpoints (a processor with a bad stored checkpoint stops the start). */
  async onApplicationBootstrap(): Promise<void> {
    await this.processors?.start();
  }

  processorStatus(): ProcessorStatus[] {
    return this.processors?.status() ?? [];
  }

  async stopProcessors(): Promise<void> {
    await this.processors?.stop();
  }

  onApplicationShutdown(): void {
    void this.processors?.stop();
    this.clusterEvents?.unsubscribe();
    this.submitter?.close();
  }

  receiveForwarded(body: Buffer): Promise<ForwardedCommandsAnswer> {
    if (this.submitter === null) return Promise.resolve({ status: 404, body: { error: 'not_found', message: 'this node has no CQRS bridge' } });
    return this.submitter.forwarder.receive(body);
  }

  executeAll(commands: object[]): Promise<unknown[]> {
    if (this.submitter === null) throw new Error('executeAll needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule');
    return this.submitter.executeAll(commands);
  }

  /** Digest comparisons of this replica (for `/cluster/status`). */
  digestStatus(): StateDigestStatus | null {
    if (this.machine === null) return null;
    return { ...this.machine.digestStatus(), lastMismatch: this.divergence };
  }

  private applyHost(): ConstructorParameters<typeof CqrsStateMachine>[0] {
    return {
      executeHandler: (command) => this.buses!.executeHandler(command),
      publishLocal: (event) => this.buses!.publishLocal(event),
      handlersReady: () => this.buses!.handlersRegistered,
      isLeader: () => this.cluster.isLeader,
      proposeDigest: (index, digest, parts) => {
        this.cluster.propose(encodeEnvelope({ v: 1, k: 'digest', i: index, d: digest, s: parts })).catch(() => undefined);
      },
      onDivergence: (report) => {
        this.divergence = { ...report, at: new Date().toISOString() };
        this.metrics.digestMismatches.inc();
        const which = report.stores.length > 0 ? `store(s) ${report.stores.join(', ')} differ` : 'the state differs';
        this.logger.error(
          `REPLICA DIVERGED after entry ${report.index}: ${which} from the leader's (digest ${report.localDigest.slice(0, 16)} here, ${report.leaderDigest.slice(0, 16)} there). ` +
            'Either a handler that writes them is not deterministic (clock, random numbers, I/O, iteration over unordered state), or they were written outside apply ' +
            "(a command that changes them without @Replicated('...') runs on one node only). This node answers /health/ready 503 until its data is rebuilt from the leader (stop it, empty its data folder, start it).",
        );
      },
      warn: (message) => this.logger.warn(message),
    };
  }

  /** The app's, under RAFT_CHECKPOINT_STORE, else files under dataDir (memory for ':memory:'). */
  private checkpointStore(): CheckpointStore {
    try {
      return this.moduleRef.get<CheckpointStore>(RAFT_CHECKPOINT_STORE, { strict: false });
    } catch {
      return this.options.dataDir === ':memory:' ? new MemoryCheckpointStore() : new FileCheckpointStore(this.options.dataDir);
    }
  }

  private discoverStores(): Map<string, ReplicatedStateStore> {
    const stores = new Map<string, ReplicatedStateStore>();
    for (const wrapper of this.discovery.getProviders()) {
      const { metatype, instance } = wrapper;
      if (typeof metatype !== 'function' || instance === null || instance === undefined) continue;
      const name = Reflect.getMetadata(REPLICATED_STATE, metatype) as string | undefined;
      if (name === undefined) continue;
      const store = instance as ReplicatedStateStore;
      if (typeof store.snapshot !== 'function' || typeof store.restore !== 'function') {
        throw new Error(`@ReplicatedState('${name}') on ${metatype.name}: the class must implement snapshot() and restore(state)`);
      }
      const existing = stores.get(name);
      if (existing !== undefined && existing !== store) throw new Error(`@ReplicatedState('${name}') is used by two providers; names must be unique`);
      stores.set(name, store);
    }
    return stores;
  }
}

