import { Body, Controller, INestApplication, Injectable, Module, Post, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CommandBus, CommandHandler, CqrsModule, EventBus, ICommandHandler } from '@nestjs/cqrs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventProcessor, EventProcessorHandler, InMemoryStore, ProcessedEventMeta, ProcessorResetInfo, RaftClusterModule, RaftClusterService, Replicated, ReplicatedState } from '../src';
import { CapturingLogger, createTestApp, freePort, request, waitFor } from './support';

jest.setTimeout(60_000);

// Every node's processors write here, tagged with the node: the test reads who handled what.
const handled: { node: string; processor: string; eventId: string; key: string; correlationId: string | null; causationId: string | null }[] = [];
const resets: { node: string; info: ProcessorResetInfo }[] = [];

@ReplicatedState('processors-test.made')
@Injectable()
class Made extends InMemoryStore<number> {}

@Replicated('processors-test.make')
class Make {
  constructor(readonly key: string) {}
}

class ThingMade {
  constructor(readonly key: string) {}
}

@CommandHandler(Make)
class MakeHandler implements ICommandHandler<Make> {
  constructor(
    private readonly made: Made,
    private readonly events: EventBus,
  ) {}

  async execute(c: Make): Promise<string> {
    this.made.set(c.key, 1);
    this.events.publish(new ThingMade(c.key));
    return c.key;
  }
}

@Controller('make')
class MakeController {
  constructor(private readonly commands: CommandBus) {}

  @Post()
  make(@Body() body: { key: string }): Promise<string> {
    return this.commands.execute(new Make(body.key));
  }
}

function processors(node: string): Type<unknown>[] {
  const record = (processor: string, e: ThingMade, meta: ProcessedEventMeta): void => {
    handled.push({ node, processor, eventId: meta.eventId, key: e.key, correlationId: meta.correlationId, causationId: meta.causationId });
  };
  @EventProcessor('webhook', { mode: 'once', events: [ThingMade] })
  class OnceProcessor implements EventProcessorHandler<ThingMade> {
    handle(e: ThingMade, meta: ProcessedEventMeta): void {
      record('webhook', e, meta);
    }
  }
  @EventProcessor('cache', { mode: 'every-node', events: [ThingMade] })
  class EveryNodeProcessor implements EventProcessorHandler<ThingMade> {
    handle(e: ThingMade, meta: ProcessedEventMeta): void {
      record('cache', e, meta);
    }

    reset(info: ProcessorResetInfo): void {
      resets.push({ node, info });
    }
  }
  return [OnceProcessor, EveryNodeProcessor];
}

interface Node {
  id: string;
  port: number;
  dataDir: string;
  app: INestApplication | null;
}

async function boot(node: Node, members: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const logger = new CapturingLogger();
  @Module({
    imports: [
      CqrsModule.forRoot(),
      RaftClusterModule.forRoot({ memberId: node.id, members, dataDir: node.dataDir, secret: 'processors-test-secret-1234', electionTimeout: [150, 300], heartbeatInterval: 30, ...extra }),
    ],
    controllers: [MakeController],
    providers: [Made, MakeHandler, ...processors(node.id)],
  })
  class AppModule {}
  const ref = await Test.createTestingModule({ imports: [AppModule] }).setLogger(logger).compile();
  const app = createTestApp(ref, { logger });
  app.enableShutdownHooks();
  await app.listen(node.port, '127.0.0.1');
  node.app = app;
}

async function cluster(extra: Record<string, unknown> = {}): Promise<{ nodes: Node[]; members: string[]; root: string }> {
  const root = mkdtempSync(path.join(tmpdir(), 'raft-processors-'));
  const nodes: Node[] = [];
  for (let i = 1; i <= 3; i++) nodes.push({ id: `p${i}`, port: await freePort(), dataDir: path.join(root, `p${i}`), app: null });
  const members = nodes.map((n) => `${n.id}=http://127.0.0.1:${n.port}`);
  for (const n of nodes) await boot(n, members, extra);
  return { nodes, members, root };
}

function service(n: Node): RaftClusterService {
  return n.app!.get(RaftClusterService);
}

async function leaderOf(nodes: Node[]): Promise<Node> {
  return waitFor('a leader', () => nodes.find((n) => n.app !== null && service(n).isLeader));
}

async function make(n: Node, keys: string[], correlationId?: string): Promise<void> {
  for (const key of keys) {
    const res = await request(`http://127.0.0.1:${n.port}/make`, { method: 'POST', body: { key }, headers: correlationId === undefined ? {} : { 'x-correlation-id': correlationId } });
    expect(res.status).toBe(201);
  }
}

const ofProcessor = (processor: string, node?: string) => handled.filter((h) => h.processor === processor && (node === undefined || h.node === node));

beforeEach(() => {
  handled.length = 0;
  resets.length = 0;
});

it('a once processor handles each event on the leader only; the next leader resumes after the checkpoint, repeating only what was not checkpointed', async () => {
  const { nodes, root } = await cluster();
  try {
    const first = await leaderOf(nodes);
    await make(first, ['a1', 'a2', 'a3'], 'order-42');
    await make(first, Array.from({ length: 17 }, (_, i) => `b${i}`));
    await waitFor('20 events handled once', () => new Set(ofProcessor('webhook').map((h) => h.eventId)).size === 20);
    expect(ofProcessor('webhook').every((h) => h.node === first.id)).toBe(true);
    const a1 = ofProcessor('webhook').find((h) => h.key === 'a1')!;
    expect(a1.correlationId).toBe('order-42');
    expect(a1.causationId).not.toBeNull();
    expect(a1.eventId).toMatch(/^\d+:0$/);
    // Every node's every-node processor saw all 20, once each, in log order.
    await waitFor('every node cached 20', () => nodes.every((n) => ofProcessor('cache', n.id).length === 20));
    for (const n of nodes) {
      const ids = ofProcessor('cache', n.id).map((h) => Number(h.eventId.split(':')[0]));
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(20);
    }

    const target = nodes.find((n) => n !== first)!;
    await service(first).transferLeadership(target.id);
    await waitFor('the new leader', () => service(target).isLeader);
    await make(target, Array.from({ length: 20 }, (_, i) => `c${i}`));
    await waitFor('40 events handled', () => new Set(ofProcessor('webhook').map((h) => h.eventId)).size === 40);
    const byId = new Map<string, string[]>();
    for (const h of ofProcessor('webhook')) byId.set(h.eventId, [...(byId.get(h.eventId) ?? []), h.node]);
    for (const [id, who] of byId) {
      // A repeat is the old leader's delivery handed out again by the new one, never one node twice.
      if (who.length > 1) expect({ id, who }).toEqual({ id, who: [first.id, target.id] });
    }
    expect(ofProcessor('webhook').filter((h) => h.key.startsWith('c')).every((h) => h.node === target.id)).toBe(true);
    const status = await request(`http://127.0.0.1:${target.port}/cluster/status`);
    const webhook = status.json<{ processors: { name: string; mode: string; lag: number; state: string }[] }>().processors.find((p) => p.name === 'webhook');
    expect(webhook).toMatchObject({ mode: 'once', lag: 0 });
    // A node on standby shows where the log's checkpoint is, the leader's progress.
    await waitFor('the old leader on standby sees the checkpoint', async () => {
      const s = await request(`http://127.0.0.1:${first.port}/cluster/status`);
      const p = s.json<{ processors: { name: string; state: string; checkpoint: string | null; lag: number }[] }>().processors.find((x) => x.name === 'webhook');
      return p?.state === 'standby' && p.checkpoint !== null && p.lag === 0;
    });
    const metrics = await request(`http://127.0.0.1:${target.port}/metrics`);
    expect(metrics.text).toMatch(/raft_event_processor_lag_events\{processor="webhook"\} 0/);
  } finally {
    await Promise.all(nodes.map((n) => n.app?.close()));
    rmSync(root, { recursive: true, force: true });
  }
});

it('after a restart nothing is handled again; a node restored from a snapshot past its checkpoint resets the processor', async () => {
  const { nodes, members, root } = await cluster({ compactionThreshold: 10, maxEventLag: 5 });
  try {
    const leader = await leaderOf(nodes);
    await make(leader, ['x1', 'x2', 'x3']);
    await waitFor('every node cached 3', () => nodes.every((n) => ofProcessor('cache', n.id).length === 3));
    await waitFor('the webhook handled 3', () => ofProcessor('webhook').length >= 3);

    // A clean restart of a follower: its processor resumes after its stored checkpoint.
    const follower = nodes.find((n) => n !== leader)!;
    await follower.app!.close();
    follower.app = null;
    await boot(follower, members, { compactionThreshold: 10, maxEventLag: 5 });
    await make(leader, ['y1']);
    await waitFor('the restarted follower cached y1', () => ofProcessor('cache', follower.id).some((h) => h.key === 'y1'));
    expect(ofProcessor('cache', follower.id).map((h) => h.key)).toEqual(['x1', 'x2', 'x3', 'y1']);

    // The whole cluster restarted: the once processor announces nothing again.
    const webhookBefore = ofProcessor('webhook').length;
    await waitFor('the webhook checkpoint is in the log', async () => {
      const s = await request(`http://127.0.0.1:${(await leaderOf(nodes)).port}/cluster/status`);
      return s.json<{ processors: { name: string; lag: number }[] }>().processors.find((p) => p.name === 'webhook')?.lag === 0;
    });
    for (const n of nodes) {
      await n.app!.close();
      n.app = null;
    }
    for (const n of nodes) await boot(n, members, { compactionThreshold: 10, maxEventLag: 5 });
    const again = await leaderOf(nodes);
    await make(again, ['z1']);
    await waitFor('z1 announced', () => ofProcessor('webhook').some((h) => h.key === 'z1'));
    const announcedAfter = ofProcessor('webhook').slice(webhookBefore).map((h) => h.key);
    // Whatever was checkpointed before the restart is not announced again (y1 may be, if its checkpoint had not reached the log).
    expect(announcedAfter.filter((k) => k.startsWith('x'))).toEqual([]);

    // A follower that is down while the log moves far on comes back through the leader's snapshot.
    const behind = nodes.find((n) => !service(n).isLeader)!;
    const cachedBefore = ofProcessor('cache', behind.id).length;
    await behind.app!.close();
    behind.app = null;
    const leaderNow = await leaderOf(nodes);
    await make(leaderNow, Array.from({ length: 30 }, (_, i) => `w${i}`));
    await boot(behind, members, { compactionThreshold: 10, maxEventLag: 5 });
    await waitFor('the reset hook', () => resets.some((r) => r.node === behind.id), 20_000);
    const reset = resets.find((r) => r.node === behind.id)!.info;
    expect(reset.processor).toBe('cache');
    await waitFor('caught up with w29', () => ofProcessor('cache', behind.id).some((h) => h.key === 'w29'));
    const after = ofProcessor('cache', behind.id).slice(cachedBefore);
    const index = (eventId: string): number => Number(eventId.split(':')[0]);
    // Nothing twice, and from the reset point on every event, in order, up to the last one.
    const all = ofProcessor('cache', behind.id).map((h) => h.eventId);
    expect(new Set(all).size).toBe(all.length);
    const resumed = after.filter((h) => index(h.eventId) > index(reset.resumeAfter)).map((h) => h.key);
    const missedUpTo = Number(resumed[0].slice(1));
    expect(missedUpTo).toBeGreaterThan(0);
    expect(resumed).toEqual(Array.from({ length: 30 - missedUpTo }, (_, i) => `w${missedUpTo + i}`));
  } finally {
    await Promise.all(nodes.map((n) => n.app?.close()));
    rmSync(root, { recursive: true, force: true });
  }
});

it('an event processor without CqrsModule stops the start with a message saying what is missing', async () => {
  @Module({
    imports: [RaftClusterModule.forRoot({ memberId: 'solo', members: ['solo=http://127.0.0.1:1'], dataDir: ':memory:', insecurePeers: true })],
    providers: [...processors('solo')],
  })
  class NoCqrsModule {}
  const ref = await Test.createTestingModule({ imports: [NoCqrsModule] }).setLogger(new CapturingLogger()).compile();
  const app = createTestApp(ref, { logger: new CapturingLogger() });
  await expect(app.init()).rejects.toThrow("@EventProcessor('webhook') needs @nestjs/cqrs: import CqrsModule.forRoot() next to RaftClusterModule");
  await app.close().catch(() => undefined);
});
