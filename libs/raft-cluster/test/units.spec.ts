import { HttpException, LoggerService } from '@nestjs/common';
import { NodeStoppedError, NotLeaderError, ProposalLostError, RaftError } from '@raft-cqrs/raft';
import { ClusterHttpError, RaftClusterMetrics, RaftHealthIndicator } from '../src';
import { isLeaderChange, LeaderUnavailableError, notLeaderError, toClusterHttpError } from '../src/raft-cluster.errors';
import { RaftClusterLogger } from '../src/raft-cluster.logger';
import { PeerDirectory, PeerTransport } from '../src/internal/peer-directory';
import type { RaftClusterService, Readiness } from '../src';

class Sink implements LoggerService {
  lines: string[] = [];
  log(m: string): void {
    this.lines.push(`log ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error ${m}`);
  }
  debug(m: string): void {
    this.lines.push(`debug ${m}`);
  }
}

describe('RaftClusterLogger', () => {
  it('prefixes member id, term and role, and says "starting" before the node exists', () => {
    const sink = new Sink();
    const log = new RaftClusterLogger('node1', null, sink);
    log.info('hello');
    log.bindState(() => ({ term: 3, role: 'leader' }));
    log.warn('careful');
    log.child('storage').error('broken');
    log.debug('detail');
    expect(sink.lines).toEqual([
      'log [node1 starting] hello',
      'warn [node1 t=3 leader] careful',
      'error [node1 t=3 leader] storage: broken',
      'debug [node1 t=3 leader] detail',
    ]);
  });

  it('redacts the secret wherever it appears, and survives a throwing state source', () => {
    const sink = new Sink();
    const log = new RaftClusterLogger('n', 's3cr3t-value', sink);
    log.bindState(() => {
      throw new Error('not started');
    });
    log.info('token=s3cr3t-value and again s3cr3t-value');
    expect(sink.lines).toEqual(['log [n starting] token=[redacted] and again [redacted]']);
  });
});

describe('PeerDirectory', () => {
  const fake = (): PeerTransport & { peers: Record<string, string>[] } => {
    const peers: Record<string, string>[] = [];
    return { peers, send: () => undefined, setPeers: (p) => peers.push(p), close: async () => undefined, peerStatus: () => ({}) };
  };

  it('uses the configuration, and join hints only while the configuration is empty', () => {
    const t = fake();
    const d = new PeerDirectory(t, 'n4', null);
    d.setPeers({});
    d.addHints({ n1: 'http://a:1', n4: 'http://self:4' });
    expect(t.peers.at(-1)).toEqual({ n1: 'http://a:1' });
    d.setPeers({ n1: 'http://a:1', n2: 'http://b:2' });
    expect(t.peers.at(-1)).toEqual({ n1: 'http://a:1', n2: 'http://b:2' });
    d.addHints({ n9: 'http://z:9' });
    expect(t.peers.at(-1)).toEqual({ n1: 'http://a:1', n2: 'http://b:2' });
  });

  it('reaches peers on peerPort at the host of their member URL', () => {
    const t = fake();
    const d = new PeerDirectory(t, 'n1', 7000);
    d.setPeers({ n2: 'http://10.0.0.2:3000', n3: 'https://c.example' });
    expect(t.peers.at(-1)).toEqual({ n2: 'http://10.0.0.2:7000', n3: 'https://c.example:7000' });
  });
});

describe('toClusterHttpError', () => {
  it("maps Express body-parser failures to the client's 4xx, and gives every 503 a Retry-After", () => {
    const tooLarge = Object.assign(new Error('request entity too large'), { type: 'entity.too.large', status: 413, limit: 102400 });
    expect(toClusterHttpError(tooLarge)).toMatchObject({ status: 413, code: 'payload_too_large', message: expect.stringContaining('102400') });
    const broken = Object.assign(new SyntaxError('Unexpected end of JSON input'), { type: 'entity.parse.failed', status: 400 });
    expect(toClusterHttpError(broken)).toMatchObject({ status: 400, code: 'bad_request' });
    const unavailable = toClusterHttpError(new HttpException({ error: 'busy', message: 'come back later' }, 503));
    expect(unavailable).toMatchObject({ status: 503, code: 'busy', headers: { 'Retry-After': '1' } });
    const conflict = toClusterHttpError(new HttpException({ error: 'out_of_stock', message: 'only 2 left', available: 2 }, 409));
    expect(conflict.body()).toEqual({ error: 'out_of_stock', message: 'only 2 left', available: 2 });
    expect(toClusterHttpError(new Error('boom'))).toMatchObject({ status: 500, code: 'internal_error' });
  });

  const url = (id: string): string => `http://${id}:1`;

  it('maps NotLeaderError to 503 + Retry-After, naming the leader when one is known', () => {
    const none = toClusterHttpError(new NotLeaderError(null), url);
    expect(none.status).toBe(503);
    expect(none.headers['Retry-After']).toBeDefined();
    expect(none.body()).toMatchObject({ error: 'no_leader', leaderId: null });
    const known = toClusterHttpError(new NotLeaderError('n2'), url);
    expect(known.status).toBe(503);
    expect(known.headers['Retry-After']).toBeDefined();
    expect(known.body()).toMatchObject({ error: 'not_leader', leaderId: 'n2', leaderUrl: 'http://n2:1' });
  });

  it('answers 409 not_leader only when asked to (a @LeaderOnly route in reject mode)', () => {
    const rejected = notLeaderError('n2', 'http://n2:1', undefined, 409);
    expect(rejected.status).toBe(409);
    expect(rejected.headers['Retry-After']).toBeUndefined();
    expect(rejected.body()).toMatchObject({ error: 'not_leader', leaderId: 'n2', leaderUrl: 'http://n2:1' });
  });

  it('treats leader changes, and only them, as worth retrying with the same request id', () => {
    for (const e of [new NotLeaderError('n2'), new NotLeaderError(null), new ProposalLostError(3), new LeaderUnavailableError('gone'), new RaftError('transfer_in_progress', 'x')]) {
      expect(isLeaderChange(e)).toBe(true);
    }
    for (const e of [new Error('handler'), new NodeStoppedError('shutdown'), new RaftError('proposal_dropped', 'x'), new ClusterHttpError(503, 'overloaded', 'x')]) {
      expect(isLeaderChange(e)).toBe(false);
    }
  });

  it('maps the core and runtime errors', () => {
    const cases: [Error, number, string][] = [
      [new RaftError('transfer_in_progress', 'x'), 503, 'transfer_in_progress'],
      [new RaftError('proposal_dropped', 'x'), 503, 'overloaded'],
      [new RaftError('conf_change_pending', 'x'), 409, 'conf_change_pending'],
      [new RaftError('bad_conf_change', 'x'), 409, 'bad_conf_change'],
      [new NodeStoppedError('shutdown'), 503, 'stopped'],
      [new ProposalLostError(5), 503, 'proposal_lost'],
      [new HttpException('nope', 404), 404, 'not_found'],
      [new HttpException({ message: ['a', 'b'] }, 400), 400, 'bad_request'],
      [new Error('boom'), 500, 'internal_error'],
    ];
    for (const [err, status, code] of cases) {
      const e = toClusterHttpError(err);
      expect([e.status, e.code]).toEqual([status, code]);
      expect(e.body()).toEqual(expect.objectContaining({ error: code, message: expect.any(String) }));
    }
    const own = new ClusterHttpError(418, 'teapot', 'short and stout');
    expect(toClusterHttpError(own)).toBe(own);
  });
});

describe('RaftHealthIndicator', () => {
  const indicator = (r: Readiness): RaftHealthIndicator => new RaftHealthIndicator({ readiness: () => r, memberId: 'n1' } as unknown as RaftClusterService);
  const base = { role: 'follower' as const, leaderId: 'n2', term: 4, commitIndex: 10, lastApplied: 10 };

  it('has the terminus shape: { [key]: { status: up | down, ... } }', async () => {
    expect(await indicator({ ready: true, ...base }).isHealthy()).toEqual({ raft: { status: 'up', memberId: 'n1', ...base } });
    const down = await indicator({ ready: false, reason: 'no leader is known', ...base, leaderId: null }).isHealthy('cluster');
    expect(down).toEqual({ cluster: { status: 'down', memberId: 'n1', reason: 'no leader is known', ...base, leaderId: null } });
  });

  it('isHealthyOrThrow throws a HealthCheckError-shaped error when down', async () => {
    const err = await indicator({ ready: false, reason: 'x', ...base }).isHealthyOrThrow().catch((e: unknown) => e);
    expect(err).toMatchObject({ isHealthCheckError: true, causes: { raft: { status: 'down' } } });
  });
});

describe('RaftClusterMetrics', () => {
  it('keeps its metrics in its own registry (several nodes in one process)', async () => {
    const a = new RaftClusterMetrics();
    const b = new RaftClusterMetrics();
    a.bindSource(() => ({ term: 7, role: 'leader', commitIndex: 3, appliedIndex: 3, snapshotBytes: 0 }));
    a.proposals.inc({ result: 'ok' });
    const ta = await a.metrics();
    const tb = await b.metrics();
    expect(ta).toContain('raft_term 7');
    expect(ta).toContain('raft_role{role="leader"} 1');
    expect(ta).toContain('raft_proposals_total{result="ok"} 1');
    expect(tb).not.toContain('raft_proposals_total{result="ok"} 1');
    expect(a.contentType).toMatch(/^text\/plain/);
  });
});
