import * as http from 'node:http';
import { signPeerRequest } from '@raft-cqrs/raft/transport';
import type { ClusterStatus } from '../src';
import { BankNode, BigIntResultCommand, DepositCommand, KeepCommand, NonDeterministicCommand, startBankNode } from './cqrs-app.fixture';
import { CapturingLogger, freePort, request, waitFor } from './support';

jest.setTimeout(60_000);

const SECRET = 'test-cqrs-secret-2b7e41';
const ACCOUNTS = 'test.accounts';
const TIMING = { electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30 };

/** Three Nest apps on @nestjs/cqrs in this process, over real HTTP: the CQRS bridge end to end. */
describe('CQRS over Raft', () => {
  const logger = new CapturingLogger();
  const nodes: BankNode[] = [];
  let leader: BankNode;
  let followers: BankNode[];

  const status = async (n: BankNode): Promise<ClusterStatus> => (await request(`${n.url}/cluster/status`)).json<ClusterStatus>();
  const allApplied = async (): Promise<void> => {
    await waitFor('every node to apply what the leader committed', async () => {
      const s = await Promise.all(nodes.map(status));
      const commit = Math.max(...s.map((x) => x.commitIndex));
      return s.every((x) => x.lastApplied >= commit && x.commitIndex === commit);
    });
  };

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const members = ports.map((p, i) => `n${i + 1}=http://127.0.0.1:${p}`);
    for (let i = 0; i < 3; i++) {
      nodes.push(await startBankNode(`n${i + 1}`, ports[i], { members, secret: SECRET, digestInterval: 10, ...TIMING }, logger));
    }
    await waitFor('a leader', () => nodes.some((n) => n.cluster.isLeader));
    leader = nodes.find((n) => n.cluster.isLeader)!;
    followers = nodes.filter((n) => n !== leader);
    await waitFor('followers to know the leader', () => followers.every((f) => f.cluster.leaderId === leader.id));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close().catch(() => undefined)));
  });

  it('applies commands sent to any node on every node, in the same order, and answers with the leader result', async () => {
    const answers = [];
    for (let i = 0; i < 12; i++) {
      const via = nodes[i % 3];
      const r = await request(`${via.url}/accounts/a1/deposit`, { method: 'POST', body: { amount: 10 } });
      expect(r.status).toBe(200);
      answers.push(r.json<{ balance: number; index: number; id: string }>());
    }
    expect(answers.map((a) => a.balance)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]);
    const indexes = answers.map((a) => a.index);
    expect([...indexes].sort((x, y) => x - y)).toEqual(indexes);
    await allApplied();
    for (const n of nodes) {
      expect(n.store.get('a1')).toEqual({ balance: 120, lastIndex: indexes[11], ids: answers.map((a) => a.id) });
      // Events raised during apply: once per node, in log order.
      expect(n.seen.deposits.filter((d) => d.includes(':a1:'))).toEqual(answers.map((a) => `${a.index}:a1:${a.balance}`));
    }
  });

  it('forwards concurrent commands from a follower in shared requests, each settling on its own', async () => {
    const f = followers[1];
    const calls = Array.from({ length: 60 }, (_, i) => (i === 30 ? -1_000_000 : 1));
    const outcomes = await Promise.allSettled(calls.map((amount) => f.commandBus.execute(new DepositCommand('batched', amount)) as Promise<{ balance: number; index: number }>));
    const ok = outcomes.filter((o): o is PromiseFulfilledResult<{ balance: number; index: number }> => o.status === 'fulfilled').map((o) => o.value);
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(ok).toHaveLength(59);
    expect(failed).toHaveLength(1);
    expect(failed[0].reason).toMatchObject({ status: 409 });
    // Every successful deposit saw a distinct balance: applied one by one, in log order.
    expect(ok.map((r) => r.balance).sort((a, b) => a - b)).toEqual(Array.from({ length: 59 }, (_, i) => i + 1));
    await allApplied();
    for (const n of nodes) expect(n.store.get('batched')?.balance).toBe(59);
  });

  it('works through commandBus.execute() in code on a follower too', async () => {
    const r = (await followers[0].commandBus.execute(new DepositCommand('a2', 5))) as { balance: number };
    expect(r.balance).toBe(5);
  });

  it("gives the caller the handler's error and changes no node's state", async () => {
    await allApplied();
    const before = nodes.map((n) => JSON.stringify(n.store.get('a1')));
    const r = await request(`${followers[1].url}/accounts/a1/deposit`, { method: 'POST', body: { amount: -1000 } });
    expect(r.status).toBe(409);
    expect(r.json()).toMatchObject({ error: 'insufficient_funds', balance: 120 });
    await allApplied();
    expect(nodes.map((n) => JSON.stringify(n.store.get('a1')))).toEqual(before);
  });

  it('applies a request retried with the same Idempotency-Key once, and answers the retry with the first result', async () => {
    const key = 'deposit-once-7f3a';
    const first = await request(`${followers[0].url}/accounts/a3/deposit`, { method: 'POST', body: { amount: 7 }, headers: { 'idempotency-key': key } });
    const again = await request(`${followers[1].url}/accounts/a3/deposit`, { method: 'POST', body: { amount: 7 }, headers: { 'idempotency-key': key } });
    const onLeader = await request(`${leader.url}/accounts/a3/deposit`, { method: 'POST', body: { amount: 7 }, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(onLeader.json()).toEqual(first.json());
    await allApplied();
    for (const n of nodes) expect(n.store.get('a3')?.balance).toBe(7);
    // The same key for another command is refused, not answered with the first result.
    const reused = await request(`${followers[0].url}/accounts/a3/deposit`, { method: 'POST', body: { amount: 8 }, headers: { 'idempotency-key': key } });
    expect(reused.status).toBe(422);
    expect(reused.json()).toMatchObject({ error: 'idempotency_key_reused' });
  });

  it('applies two requests that share only a tracing X-Request-ID both (it is not an idempotency key)', async () => {
    const headers = { 'x-request-id': 'trace-from-a-gateway-1' };
    const first = await request(`${followers[0].url}/accounts/a4/deposit`, { method: 'POST', body: { amount: 5 }, headers });
    const second = await request(`${followers[1].url}/accounts/a4/deposit`, { method: 'POST', body: { amount: 6 }, headers });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.json<{ index: number }>().index).toBeGreaterThan(first.json<{ index: number }>().index);
    await allApplied();
    for (const n of nodes) expect(n.store.get('a4')?.balance).toBe(11);
  });

  it('refuses a command whose fields JSON cannot carry, before the log, naming the command and the field', async () => {
    await allApplied();
    const before = (await status(leader)).lastLogIndex;
    class Point {
      constructor(readonly x: number) {}
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, string, RegExp][] = [
      [new Map([['a', 1]]), 'value', /a Map/],
      [new Set([1]), 'value', /a Set/],
      [new Date(0), 'value', /a Date/],
      [{ deep: [1, { n: 10n }] }, 'value.deep[1].n', /a BigInt/],
      [() => 1, 'value', /a function/],
      [new Point(1), 'value', /an instance of Point/],
      [[1, Number.NaN], 'value[1]', /NaN/],
      [{ x: Number.POSITIVE_INFINITY }, 'value.x', /Infinity/],
      [cyclic, 'value.self', /a cycle/],
      [[1, undefined], 'value[1]', /undefined/],
    ];
    for (const [value, field, problem] of cases) {
      for (const via of [leader, followers[0]]) {
        const err = await via.commandBus.execute(new KeepCommand('payload', value)).then(
          () => null,
          (e: unknown) => e,
        );
        expect([field, err]).toEqual([field, expect.objectContaining({ status: 400, code: 'unserializable_command', extra: { command: 'test.keep', field } })]);
        expect((err as Error).message).toMatch(problem);
        expect((err as Error).message).toContain('command "test.keep"');
      }
    }
    await allApplied();
    // Nothing reached the log: no node's handler saw any of them (digest entries may have come and gone).
    expect(nodes.map((n) => n.seen.kept.has('payload'))).toEqual([false, false, false]);
    expect((await status(leader)).lastLogIndex).toBeLessThanOrEqual(before + 1);
    // Undefined fields are fine (JSON leaves them out, and they read back as undefined).
    await expect(followers[0].commandBus.execute(new KeepCommand('payload', { a: undefined, b: 1 }))).resolves.toEqual({ value: { b: 1 }, isDate: false });
  });

  it('fails a command whose handler returns what the log cannot carry, on every node, with its writes taken back', async () => {
    await allApplied();
    const a1 = nodes.map((n) => JSON.stringify(n.store.get('a1')));
    for (const via of [followers[1], leader]) {
      const err = await via.commandBus.execute(new BigIntResultCommand('big')).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ status: 500 });
      expect(JSON.stringify((err as { getResponse?: () => unknown }).getResponse?.() ?? (err as Error).message)).toMatch(/test\.bigint-result.*a BigInt/);
    }
    await allApplied();
    for (const n of nodes) {
      expect(n.store.get('big')).toBeUndefined();
      expect(JSON.stringify(n.store.get('a1'))).toBe(a1[0]);
    }
    expect(new Set(a1).size).toBe(1);
  });

  it('serves a linearizable read on a follower that sees the write acknowledged just before, every time', async () => {
    for (let i = 1; i <= 25; i++) {
      const w = await request(`${leader.url}/accounts/lin/deposit`, { method: 'POST', body: { amount: 1 } });
      expect(w.status).toBe(200);
      const f = followers[i % 2];
      const byQuery = await request(`${f.url}/accounts/lin?consistency=linearizable`);
      expect(byQuery.json<{ balance: number }>().balance).toBe(i);
      const byHeader = await request(`${f.url}/accounts/lin`, { headers: { 'x-consistency': 'linearizable' } });
      expect(byHeader.json<{ balance: number }>().balance).toBe(i);
    }
    const bad = await request(`${followers[0].url}/accounts/lin?consistency=strong`);
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', field: 'consistency' });
  });

  it('sends a broadcast event published outside apply through the log: once per node, the same order everywhere', async () => {
    const texts = ['t1', 't2', 't3', 't4', 't5', 't6'];
    await Promise.all(texts.map((text, i) => request(`${nodes[i % 3].url}/announce`, { method: 'POST', body: { text } })));
    await waitFor('every node to see six announcements', () => nodes.every((n) => n.seen.announcements.length === 6));
    const order = nodes[0].seen.announcements;
    expect([...order].sort()).toEqual(texts);
    for (const n of nodes) expect(n.seen.announcements).toEqual(order);
  });

  it('dispatches a saga command from the leader only: it enters the log once, not once per node', async () => {
    const r = await request(`${followers[0].url}/accounts/vip1/deposit`, { method: 'POST', body: { amount: 1 } });
    expect(r.status).toBe(200);
    await waitFor('the bonus on every node', () => nodes.every((n) => n.store.get('bonus:vip1') !== undefined));
    // More log traffic after it: a duplicate proposal from a follower would have been applied by now.
    for (let i = 0; i < 5; i++) await leader.commandBus.execute(new DepositCommand('after-vip', 1));
    await allApplied();
    for (const n of nodes) expect(n.store.get('bonus:vip1')?.balance).toBe(1);
    // A saga's local command runs where the saga dispatches it: on the leader only.
    expect(leader.seen.audits).toEqual(['vip1']);
    for (const f of followers) expect(f.seen.audits).toEqual([]);
  });

  it('executeAll applies a batch in one entry, or nothing when a handler fails', async () => {
    const ok = (await followers[0].cluster.executeAll([new DepositCommand('b1', 3), new DepositCommand('b2', 4)])) as { index: number }[];
    expect(ok).toHaveLength(2);
    expect(ok[0].index).toBe(ok[1].index);
    await expect(followers[1].cluster.executeAll([new DepositCommand('b1', 100), new DepositCommand('b2', -50)])).rejects.toMatchObject({ status: 409 });
    await allApplied();
    for (const n of nodes) {
      expect(n.store.get('b1')?.balance).toBe(3);
      expect(n.store.get('b2')?.balance).toBe(4);
    }
  });

  it('forwards a @LeaderOnly route to the leader, or answers 409 / 307 by mode', async () => {
    const f = followers[0];
    const forwarded = await request(`${f.url}/whoami`);
    expect(forwarded.status).toBe(200);
    expect(forwarded.json()).toEqual({ memberId: leader.id });
    const rejected = await request(`${f.url}/whoami-reject`);
    expect(rejected.status).toBe(409);
    expect(rejected.json()).toMatchObject({ error: 'not_leader', leaderId: leader.id, leaderUrl: leader.url });
    const redirected = await request(`${f.url}/whoami-redirect`);
    expect(redirected.status).toBe(307);
    expect(redirected.headers.location).toBe(`${leader.url}/whoami-redirect`);
    // A request already forwarded once is never forwarded again.
    const twice = await request(`${f.url}/whoami`, { headers: { 'x-raft-forwarded': '1' } });
    expect(twice.status).toBe(503);
    expect(twice.headers['retry-after']).toBeDefined();
  });

  it('refuses a forwarded command without the cluster secret (401) and changes nothing', async () => {
    const before = nodes.map((n) => n.cluster.status().commitIndex);
    const r = await request(`${leader.url}/raft/command`, {
      method: 'POST',
      body: { k: 'cmd', n: 'test.deposit', p: { account: 'x', amount: 1 }, r: 'no-secret', h: 'h' },
    });
    expect(r.status).toBe(401);
    expect(nodes.map((n) => n.cluster.status().commitIndex)).toEqual(before);
    expect(leader.store.get('x')).toBeUndefined();
  });

  it('refuses an unknown command name (400) and an oversized command (413) before they reach the log', async () => {
    await allApplied();
    const before = leader.cluster.status().lastLogIndex;
    const body = Buffer.from(JSON.stringify({ k: 'cmd', n: 'test.no-such-command', p: {}, r: 'unknown-1', h: 'h' }));
    const r = await request(`${leader.url}/raft/command`, {
      method: 'POST',
      raw: body,
      headers: { 'content-type': 'application/json', 'x-raft-from': followers[0].id, ...signPeerRequest(SECRET, 'POST', '/raft/command', body, Date.now()) },
    });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ error: 'unknown_command' });
    await expect(followers[0].commandBus.execute(new DepositCommand('x'.repeat(2 * 1024 * 1024), 1))).rejects.toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(leader.cluster.status().lastLogIndex).toBe(before);
  });

  it('answers a body over the limit 413 and malformed JSON 400 (Nest defaults; ClusterExceptionFilter gives them the { error, message } shape)', async () => {
    const big = await request(`${followers[0].url}/accounts/a1/deposit`, { method: 'POST', raw: Buffer.from(JSON.stringify({ amount: 1, pad: 'x'.repeat(300_000) })), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    const broken = await request(`${followers[0].url}/accounts/a1/deposit`, { method: 'POST', raw: Buffer.from('{"amount": 1,'), headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(leader.store.get('a1')?.balance).toBe(120);
  });

  it('compares replica state digests and reports a divergence caused by a non-deterministic handler', async () => {
    await allApplied();
    const before = await Promise.all(nodes.map(status));
    expect(before.every((s) => s.stateDigest?.mismatches === 0)).toBe(true);
    expect(before.some((s) => (s.stateDigest?.matches ?? 0) > 0)).toBe(true);
    await leader.commandBus.execute(new NonDeterministicCommand('chaos'));
    // Push the log past the next digest index.
    for (let i = 0; i < 12; i++) await leader.commandBus.execute(new DepositCommand('pad', 1));
    await waitFor('a follower to report the divergence', async () => {
      const s = await Promise.all(followers.map(status));
      return s.some((x) => (x.stateDigest?.mismatches ?? 0) > 0);
    });
    const metrics = await request(`${followers[0].url}/metrics`);
    expect(metrics.text).toMatch(/raft_state_digest_mismatches_total \d+/);
    const diverged = followers.filter((f) => f.cluster.status().stateDigest?.lastMismatch !== null);
    expect(diverged.length).toBeGreaterThan(0);
    for (const f of diverged) {
      // Named: the one store the planted handler wrote, not the session table or other stores.
      expect((await status(f)).stateDigest?.lastMismatch).toMatchObject({ stores: [ACCOUNTS] });
      const ready = await request(`${f.url}/health/ready`);
      expect([ready.status, ready.json<{ reason: string }>().reason]).toEqual([503, expect.stringContaining(`diverged from the leader's after entry`)]);
      expect(ready.json<{ reason: string }>().reason).toContain(ACCOUNTS);
    }
    expect((await request(`${leader.url}/health/ready`)).status).toBe(200);
    expect(logger.lines.some((l) => l.includes('REPLICA DIVERGED') && l.includes(`store(s) ${ACCOUNTS} differ`))).toBe(true);
  });
});

describe('idempotencyHeaders', () => {
  it('makes X-Request-ID a key when the option names it, and leaves Idempotency-Key first', async () => {
    const logger = new CapturingLogger();
    const port = await freePort();
    const node = await startBankNode('solo', port, { members: [`solo=http://127.0.0.1:${port}`], secret: SECRET, idempotencyHeaders: ['Idempotency-Key', 'X-Request-ID'], ...TIMING }, logger);
    try {
      await waitFor('a leader', () => node.cluster.isLeader);
      const deposit = (headers: Record<string, string>): ReturnType<typeof request> => request(`${node.url}/accounts/k/deposit`, { method: 'POST', body: { amount: 1 }, headers });
      const a = await deposit({ 'x-request-id': 'client-op-1' });
      const b = await deposit({ 'x-request-id': 'client-op-1' });
      expect(b.json()).toEqual(a.json());
      const c = await deposit({ 'idempotency-key': 'key-2', 'x-request-id': 'client-op-1' });
      expect(c.json<{ index: number }>().index).toBeGreaterThan(a.json<{ index: number }>().index);
      expect(node.store.get('k')?.balance).toBe(2);
      const bad = await deposit({ 'x-request-id': 'has space' });
      expect([bad.status, bad.json<{ field: string }>().field]).toEqual([400, 'x-request-id']);
      // A request without a key on a kept-alive connection does not inherit the key of the one before it.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sameSocket = (headers: Record<string, string>): Promise<{ index: number }> =>
        new Promise((resolve, reject) => {
          const req = http.request(`${node.url}/accounts/k/deposit`, { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(JSON.parse(text) as { index: number }));
          });
          req.on('error', reject);
          req.end(JSON.stringify({ amount: 1 }));
        });
      const keyed = await sameSocket({ 'idempotency-key': 'key-3' });
      const plain = [await sameSocket({}), await sameSocket({})];
      agent.destroy();
      expect(new Set([keyed.index, ...plain.map((p) => p.index)]).size).toBe(3);
      expect(node.store.get('k')?.balance).toBe(5);
    } finally {
      await node.app.close();
    }
  });
});

describe('codec', () => {
  it("carries what the app's codec carries (a Date here), decoded for the handler and for the caller", async () => {
    const logger = new CapturingLogger();
    const port = await freePort();
    // Tags Dates so that they survive JSON; everything else passes through.
    const codec = {
      encode: (v: unknown): unknown => JSON.parse(JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
        const raw = this[k];
        return raw instanceof Date ? { $date: raw.getTime() } : x;
      })),
      decode: (v: unknown): unknown => JSON.parse(JSON.stringify(v), (_k, x: unknown) => (x !== null && typeof x === 'object' && '$date' in x ? new Date((x as { $date: number }).$date) : x)),
    };
    const node = await startBankNode('solo', port, { members: [`solo=http://127.0.0.1:${port}`], secret: SECRET, codec, ...TIMING }, logger);
    try {
      await waitFor('a leader', () => node.cluster.isLeader);
      const when = new Date(Date.UTC(2030, 0, 2));
      const result = (await node.commandBus.execute(new KeepCommand('dated', when))) as { value: unknown; isDate: boolean };
      expect(result.isDate).toBe(true);
      expect(result.value).toEqual(when);
      expect(node.seen.kept.get('dated')).toEqual(when);
      // What the codec itself cannot encode fails at execute, before the log.
      await expect(node.commandBus.execute(new KeepCommand('big', 1n))).rejects.toThrow('BigInt');
      expect(node.seen.kept.has('big')).toBe(false);
    } finally {
      await node.app.close();
    }
  });
});
