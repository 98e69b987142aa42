import { Body, ConflictException, Controller, Get, HttpCode, Injectable, LoggerService, Module, NotFoundException, Param, Post } from '@nestjs/common';
import { CommandBus, CommandHandler, CqrsModule, EventBus, EventsHandler, ICommandHandler, IEvent, IEventHandler, IQueryHandler, ofType, QueryBus, QueryHandler, Saga } from '@nestjs/cqrs';
import { filter, map, Observable } from 'rxjs';
import { Test } from '@nestjs/testing';
import {
  Consistency,
  InMemoryStore,
  LeaderOnly,
  RaftClusterModule,
  RaftClusterModuleOptions,
  RaftClusterService,
  Replicated,
  ReplicatedEvent,
  ReplicatedState,
  requireApplyContext,
} from '../src';
import { RaftCqrsBridge } from '../src/cqrs/raft-cqrs.bridge';
import { createTestApp } from './support';
import type { TestNode } from './support';

/** A small bank: the CQRS bridge's test app. */
@ReplicatedState('test.accounts')
@Injectable()
export class AccountStore extends InMemoryStore<{ balance: number; lastIndex: number; ids: string[] }> {}

@Replicated('test.deposit')
export class DepositCommand {
  constructor(
    readonly account: string,
    readonly amount: number,
  ) {}
}

/** Emitted by a saga for deposits to "vip" accounts: must enter the log once, not once per node. */
@Replicated('test.bonus')
export class BonusCommand {
  constructor(readonly account: string) {}
}

/** A local (not replicated) command a saga emits: it should run on the leader only. */
export class AuditCommand {
  constructor(readonly account: string) {}
}

/** Stores whatever it carries under `account`, and answers what it stored (payload tests). */
@Replicated('test.keep')
export class KeepCommand {
  constructor(
    readonly account: string,
    readonly value: unknown,
  ) {}
}

/** Writes the account, then returns a result the log cannot carry (a BigInt). */
@Replicated('test.bigint-result')
export class BigIntResultCommand {
  constructor(readonly account: string) {}
}

/** Reads the clock inside apply: what a handler must not do (for the divergence test). */
@Replicated('test.clock-stamp')
export class NonDeterministicCommand {
  constructor(readonly account: string) {}
}

export class DepositedEvent {
  constructor(
    readonly account: string,
    readonly balance: number,
    readonly index: number,
  ) {}
}

@ReplicatedEvent('test.announced')
export class AnnouncedEvent {
  constructor(readonly text: string) {}
}

export class GetAccountQuery {
  constructor(readonly account: string) {}
}

@Consistency('linearizable')
export class GetAccountLinearizableQuery {
  constructor(readonly account: string) {}
}

/** What this node saw, in order: apply events and broadcast events. */
@Injectable()
export class Seen {
  readonly deposits: string[] = [];
  readonly announcements: string[] = [];
  readonly audits: string[] = [];
  /** What KeepCommand's handler received, by account (not replicated state: what this node saw). */
  readonly kept = new Map<string, unknown>();
}

@CommandHandler(DepositCommand)
export class DepositHandler implements ICommandHandler<DepositCommand> {
  constructor(
    private readonly store: AccountStore,
    private readonly events: EventBus,
  ) {}

  async execute(cmd: DepositCommand): Promise<{ account: string; balance: number; index: number; id: string }> {
    const ctx = requireApplyContext();
    const current = this.store.get(cmd.account) ?? { balance: 0, lastIndex: 0, ids: [] };
    const balance = current.balance + cmd.amount;
    if (balance < 0) throw new ConflictException({ error: 'insufficient_funds', message: `account ${cmd.account} would go below zero`, balance: current.balance });
    const id = ctx.newId();
    this.store.set(cmd.account, { balance, lastIndex: ctx.index, ids: [...current.ids, id] });
    this.events.publish(new DepositedEvent(cmd.account, balance, ctx.index));
    return { account: cmd.account, balance, index: ctx.index, id };
  }
}

@CommandHandler(NonDeterministicCommand)
export class NonDeterministicHandler implements ICommandHandler<NonDeterministicCommand> {
  constructor(private readonly store: AccountStore) {}

  async execute(cmd: NonDeterministicCommand): Promise<null> {
    this.store.set(cmd.account, { balance: Math.random(), lastIndex: 0, ids: [] });
    return null;
  }
}

@CommandHandler(BonusCommand)
export class BonusHandler implements ICommandHandler<BonusCommand> {
  constructor(private readonly store: AccountStore) {}

  async execute(cmd: BonusCommand): Promise<null> {
    const key = `bonus:${cmd.account}`;
    const current = this.store.get(key) ?? { balance: 0, lastIndex: 0, ids: [] };
    this.store.set(key, { ...current, balance: current.balance + 1, lastIndex: requireApplyContext().index });
    return null;
  }
}

@CommandHandler(AuditCommand)
export class AuditHandler implements ICommandHandler<AuditCommand> {
  constructor(private readonly seen: Seen) {}
  async execute(cmd: AuditCommand): Promise<void> {
    this.seen.audits.push(cmd.account);
  }
}

@Injectable()
export class BonusSaga {
  @Saga()
  audit = (events$: Observable<IEvent>): Observable<AuditCommand> =>
    events$.pipe(
      ofType(DepositedEvent),
      filter((e) => e.account.startsWith('vip')),
      map((e) => new AuditCommand(e.account)),
    );

  @Saga()
  bonus = (events$: Observable<IEvent>): Observable<BonusCommand> =>
    events$.pipe(
      ofType(DepositedEvent),
      filter((e) => e.account.startsWith('vip')),
      map((e) => new BonusCommand(e.account)),
    );
}

@EventsHandler(DepositedEvent)
export class DepositedHandler implements IEventHandler<DepositedEvent> {
  constructor(private readonly seen: Seen) {}
  handle(e: DepositedEvent): void {
    this.seen.deposits.push(`${e.index}:${e.account}:${e.balance}`);
  }
}

@EventsHandler(AnnouncedEvent)
export class AnnouncedHandler implements IEventHandler<AnnouncedEvent> {
  constructor(private readonly seen: Seen) {}
  handle(e: AnnouncedEvent): void {
    this.seen.announcements.push(e.text);
  }
}

@CommandHandler(KeepCommand)
export class KeepHandler implements ICommandHandler<KeepCommand> {
  constructor(private readonly seen: Seen) {}
  async execute(cmd: KeepCommand): Promise<{ value: unknown; isDate: boolean }> {
    this.seen.kept.set(cmd.account, cmd.value);
    return { value: cmd.value, isDate: cmd.value instanceof Date };
  }
}

@CommandHandler(BigIntResultCommand)
export class BigIntResultHandler implements ICommandHandler<BigIntResultCommand> {
  constructor(private readonly store: AccountStore) {}
  async execute(cmd: BigIntResultCommand): Promise<{ total: bigint }> {
    this.store.set(cmd.account, { balance: 1_000_000, lastIndex: 0, ids: [] });
    this.store.delete('a1');
    return { total: 10n ** 20n };
  }
}

@QueryHandler(GetAccountQuery)
export class GetAccountHandler implements IQueryHandler<GetAccountQuery> {
  constructor(private readonly store: AccountStore) {}
  async execute(q: GetAccountQuery): Promise<{ balance: number; lastIndex: number } | undefined> {
    return this.store.get(q.account);
  }
}

@QueryHandler(GetAccountLinearizableQuery)
export class GetAccountLinearizableHandler implements IQueryHandler<GetAccountLinearizableQuery> {
  constructor(private readonly store: AccountStore) {}
  async execute(q: GetAccountLinearizableQuery): Promise<{ balance: number; lastIndex: number } | undefined> {
    return this.store.get(q.account);
  }
}

@Controller()
export class BankController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly events: EventBus,
    private readonly cluster: RaftClusterService,
  ) {}

  @Post('accounts/:id/deposit')
  @HttpCode(200)
  deposit(@Param('id') id: string, @Body() body: { amount: number }): Promise<unknown> {
    return this.commands.execute(new DepositCommand(id, body.amount));
  }

  @Get('accounts/:id')
  async get(@Param('id') id: string): Promise<unknown> {
    const a = await this.queries.execute(new GetAccountQuery(id));
    if (a === undefined) throw new NotFoundException({ error: 'not_found', message: `no account ${id}` });
    return a;
  }

  @Post('announce')
  @HttpCode(202)
  announce(@Body() body: { text: string }): { accepted: true } {
    this.events.publish(new AnnouncedEvent(body.text));
    return { accepted: true };
  }

  @Get('whoami')
  @LeaderOnly()
  whoami(): { memberId: string } {
    return { memberId: this.cluster.memberId };
  }

  @Get('whoami-reject')
  @LeaderOnly({ mode: 'reject' })
  whoamiReject(): { memberId: string } {
    return { memberId: this.cluster.memberId };
  }

  @Get('whoami-redirect')
  @LeaderOnly({ mode: 'redirect' })
  whoamiRedirect(): { memberId: string } {
    return { memberId: this.cluster.memberId };
  }
}

@Module({
  controllers: [BankController],
  providers: [
    AccountStore,
    Seen,
    BonusSaga,
    BonusHandler,
    AuditHandler,
    DepositHandler,
    NonDeterministicHandler,
    KeepHandler,
    BigIntResultHandler,
    DepositedHandler,
    AnnouncedHandler,
    GetAccountHandler,
    GetAccountLinearizableHandler,
  ],
})
export class BankModule {}

export interface BankNode extends Omit<TestNode, 'kv'> {
  store: AccountStore;
  seen: Seen;
  bridge: RaftCqrsBridge;
  commandBus: CommandBus;
  queryBus: QueryBus;
}

export async function startBankNode(
  id: string,
  port: number,
  options: Omit<RaftClusterModuleOptions, 'memberId' | 'dataDir'> & { dataDir?: string },
  logger: LoggerService,
): Promise<BankNode> {
  const moduleRef = await Test.createTestingModule({
    imports: [CqrsModule.forRoot(), RaftClusterModule.forRoot({ memberId: id, dataDir: ':memory:', ...options }), BankModule],
  })
    .setLogger(logger)
    .compile();
  const app = createTestApp(moduleRef, { logger });
  await app.listen(port, '127.0.0.1');
  return {
    id,
    url: `http://127.0.0.1:${port}`,
    app,
    cluster: app.get(RaftClusterService),
    store: app.get(AccountStore),
    seen: app.get(Seen),
    bridge: app.get(RaftCqrsBridge),
    commandBus: app.get(CommandBus),
    queryBus: app.get(QueryBus),
  };
}
