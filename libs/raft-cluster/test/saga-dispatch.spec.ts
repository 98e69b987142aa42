import { INestApplication, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CommandBus, CommandHandler, CqrsModule, EventBus, ICommandHandler, IEvent, ofType, Saga } from '@nestjs/cqrs';
import { map, Observable } from 'rxjs';
import { InMemoryStore, RaftClusterModule, RaftClusterService, Replicated, ReplicatedState, requireApplyContext } from '../src';
import { CapturingLogger, createTestApp, freePort, waitFor } from './support';

jest.setTimeout(30_000);

// A saga's command is dispatched by the leader only, while the entry that raised its event is applied: its
// request id must not come from the entry's id sequence, or the leader's ids run ahead of the followers'.

@ReplicatedState('saga-test.ids')
@Injectable()
class Ids extends InMemoryStore<string> {}

@Replicated('saga-test.make')
class Make {
  constructor(readonly key: string) {}
}

@Replicated('saga-test.follow')
class Follow {
  constructor(readonly key: string) {}
}

class Made {
  constructor(readonly key: string) {}
}

@CommandHandler(Make)
class MakeHandler implements ICommandHandler<Make> {
  constructor(
    private readonly ids: Ids,
    private readonly events: EventBus,
  ) {}

  async execute(c: Make): Promise<string> {
    const ctx = requireApplyContext();
    this.events.publish(new Made(c.key));
    const id = ctx.newId(); // drawn after the event the saga reacts to
    this.ids.set(c.key, id);
    return id;
  }
}

@CommandHandler(Follow)
class FollowHandler implements ICommandHandler<Follow> {
  async execute(): Promise<null> {
    return null;
  }
}

@Injectable()
class FollowSaga {
  @Saga()
  follow = (events$: Observable<IEvent>): Observable<Follow> =>
    events$.pipe(
      ofType(Made),
      map((e) => new Follow(e.key)),
    );
}

it('an id drawn after a saga reacted is the same on every node', async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const members = ports.map((p, i) => `s${i + 1}=http://127.0.0.1:${p}`);
  const logger = new CapturingLogger();
  const apps: INestApplication[] = [];
  for (let i = 0; i < 3; i++) {
    @Module({
      imports: [
        CqrsModule.forRoot(),
        RaftClusterModule.forRoot({ memberId: `s${i + 1}`, members, dataDir: ':memory:', secret: 'saga-test-secret-123456', electionTimeout: [150, 300], heartbeatInterval: 30 }),
      ],
      providers: [Ids, MakeHandler, FollowHandler, FollowSaga],
    })
    class AppModule {}
    const ref = await Test.createTestingModule({ imports: [AppModule] }).setLogger(logger).compile();
    const app = createTestApp(ref, { logger });
    await app.listen(ports[i], '127.0.0.1');
    apps.push(app);
  }
  try {
    await waitFor('a leader', () => apps.some((a) => a.get(RaftClusterService).isLeader));
    const leader = apps.find((a) => a.get(RaftClusterService).isLeader)!;
    const id = await leader.get(CommandBus).execute(new Make('x'));
    await waitFor('x applied everywhere', () => apps.every((a) => a.get(Ids).get('x') !== undefined));
    expect(apps.map((a) => a.get(Ids).get('x'))).toEqual([id, id, id]);
  } finally {
    await Promise.all(apps.map((a) => a.close()));
  }
});
