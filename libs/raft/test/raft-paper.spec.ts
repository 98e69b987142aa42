/**
 * The rules of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
 * Algorithm"), one test each, in the spirit of etcd-io/raft's raft_paper_test.go.
 */
import { EntryType, Message, NodeId, RaftCore, Role } from '../src/core';
import {
  appendReq,
  appendResp,
  drain,
  entriesWithTerms,
  entry,
  heartbeat,
  makeLeader,
  Network,
  newCore,
  ofType,
  persistentState,
  readMessages,
  repeat,
  seededRandom,
  termsOf,
  text,
  tickUntilCampaign,
  voteReq,
  voteResp,
} from './harness';

const V3 = ['n1', 'n2', 'n3'];
const V5 = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** A lone follower `id` of `voters` whose log holds one entry per term given, at hard-state `term`. */
function follower(id: NodeId, voters: NodeId[], terms: number[], term: number, commit = 0, opts = {}): RaftCore {
  return newCore(id, voters, opts, persistentState(voters, { entries: entriesWithTerms(terms), hardState: { term, commit } }));
}

describe('§5.2 leader election', () => {
  it('nodes start as followers of no one, at their persisted term and vote', () => {
    const fresh = newCore('n1', V3);
    expect([fresh.role, fresh.term, fresh.vote, fresh.leaderId]).toEqual(['follower', 0, null, null]);
    expect(fresh.hasReady()).toBe(false);
    const restarted = newCore('n1', V3, {}, persistentState(V3, { hardState: { term: 7, vote: 'n2' } }));
    expect([restarted.role, restarted.term, restarted.vote, restarted.leaderId]).toEqual(['follower', 7, 'n2', null]);
  });

  it('a follower does nothing before the minimum election timeout', () => {
    const core = newCore('n1', V3);
    for (let i = 0; i < 9; i++) core.tick();
    expect(core.role).toBe('follower');
    expect(readMessages(core)).toEqual([]);
  });

  it('a follower that keeps hearing from its leader never campaigns', () => {
    const core = follower('n1', V3, [], 1);
    for (let i = 0; i < 200; i++) {
      core.tick();
      core.step(heartbeat('n2', 'n1', 1));
    }
    expect(core.role).toBe('follower');
    expect(core.leaderId).toBe('n2');
    expect(readMessages(core).filter((m) => m.type === 'vote' || m.type === 'pre-vote')).toEqual([]);
  });

  it('with pre-vote, a follower that hears nothing for the election timeout sends pre-votes at term+1 without changing its term', () => {
    const core = follower('n1', V3, [1, 2], 2);
    const ticks = tickUntilCampaign(core);
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThanOrEqual(20);
    expect(core.role).toBe('pre-candidate');
    expect(core.term).toBe(2);
    expect(core.vote).toBeNull();
    const readies = drain(core);
    expect(readies.every((rd) => rd.hardState === null)).toBe(true); // nothing to persist
    const msgs = readies.flatMap((rd) => [...rd.messages, ...rd.messagesAfterPersist]);
    expect(msgs).toEqual(
      ['n2', 'n3'].map((to) => ({ type: 'pre-vote', from: 'n1', to, term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: false })),
    );
  });

  it('without pre-vote, a follower that times out becomes candidate, increments its term, votes for itself and asks for votes once that is durable', () => {
    const core = follower('n1', V3, [1, 2], 2, 0, { preVote: false });
    tickUntilCampaign(core);
    expect([core.role, core.term, core.vote]).toEqual(['candidate', 3, 'n1']);
    const [rd] = drain(core);
    expect(rd.hardState).toEqual({ term: 3, vote: 'n1', commit: 0 });
    // The requests carry the self-vote: they go only once it is persisted.
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist).toEqual(
      ['n2', 'n3'].map((to) => ({ type: 'vote', from: 'n1', to, term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: false })),
    );
  });

  it('a pre-candidate that wins the pre-vote becomes candidate at term+1 and votes for itself', () => {
    const core = follower('n1', V3, [], 4);
    tickUntilCampaign(core);
    readMessages(core);
    core.step(voteResp('n2', 'n1', 5, true, true));
    expect([core.role, core.term, core.vote]).toEqual(['candidate', 5, 'n1']);
    expect(ofType(readMessages(core), 'vote').map((m) => [m.to, m.term])).toEqual([
      ['n2', 5],
      ['n3', 5],
    ]);
  });

  it('a candidate whose election times out (split vote) starts a new one with a higher term', () => {
    const core = newCore('n1', V3, { preVote: false });
    tickUntilCampaign(core);
    readMessages(core);
    expect(core.term).toBe(1);
    let ticks = 0;
    while (core.term === 1) {
      core.tick();
      ticks++;
    }
    expect(ticks).toBeLessThanOrEqual(20);
    expect([core.role, core.term, core.vote]).toEqual(['candidate', 2, 'n1']);
    expect(ofType(readMessages(core), 'vote').map((m) => m.term)).toEqual([2, 2]);
  });

  describe('a node steps down to follower on any message with a higher term', () => {
    const roles: Role[] = ['follower', 'pre-candidate', 'candidate', 'leader'];

    function inRole(role: Role): RaftCore {
      // No check-quorum here: the leader lease (tested elsewhere) would ignore higher-term vote requests.
      const core = follower('n1', V3, [], 1, 0, { preVote: role === 'pre-candidate', checkQuorum: false });
      if (role === 'pre-candidate' || role === 'candidate') tickUntilCampaign(core);
      if (role === 'leader') makeLeader(core);
      readMessages(core);
      expect(core.role).toBe(role);
      return core;
    }

    const higher: [string, (to: NodeId) => Message, NodeId | null][] = [
      ['append', (to) => appendReq('n2', to, 9, 0, 0), 'n2'],
      ['heartbeat', (to) => heartbeat('n2', to, 9), 'n2'],
      ['vote', (to) => voteReq('n2', to, 9, 0, 0), null],
      ['rejected vote-resp', (to) => voteResp('n2', to, 9, false), null],
      ['rejected pre-vote-resp', (to) => voteResp('n2', to, 9, false, true), null],
      ['append-resp', (to) => appendResp('n2', to, 9, 0), null],
      ['heartbeat-resp', (to) => ({ type: 'heartbeat-resp', from: 'n2', to, term: 9, readRound: 0 }), null],
      ['read-index', (to) => ({ type: 'read-index', from: 'n2', to, term: 9, requestId: 1 }), null],
    ];

    for (const role of roles) {
      it.each(higher)(`${role} receiving %s`, (_name, make, leader) => {
        const core = inRole(role);
        core.step(make('n1'));
        expect([core.role, core.term, core.leaderId]).toEqual(['follower', 9, leader]);
      });
    }
  });

  it('pre-vote messages never raise the receiver’s term', () => {
    const core = follower('n1', V3, [1, 1], 2);
    core.step(voteReq('n2', 'n1', 7, 2, 1, { preVote: true }));
    expect([core.role, core.term, core.vote]).toEqual(['follower', 2, null]);
    let rds = drain(core);
    expect(rds.every((rd) => rd.hardState === null)).toBe(true);
    // Granted, answered in the term the candidate would campaign in.
    expect(rds.flatMap((rd) => [...rd.messages, ...rd.messagesAfterPersist])).toEqual([voteResp('n1', 'n2', 7, true, true)]);

    // A refused pre-vote (stale log) is answered with our own term, still unchanged.
    core.step(voteReq('n3', 'n1', 7, 1, 1, { preVote: true }));
    rds = drain(core);
    expect(core.term).toBe(2);
    expect(rds.flatMap((rd) => [...rd.messages, ...rd.messagesAfterPersist])).toEqual([voteResp('n1', 'n3', 2, false, true)]);

    // A granted pre-vote response with a higher term does not move a pre-candidate's term either.
    const pre = follower('n1', V5, [], 3);
    tickUntilCampaign(pre);
    pre.step(voteResp('n2', 'n1', 4, true, true));
    expect([pre.role, pre.term]).toEqual(['pre-candidate', 3]);
  });

  describe('a candidate wins with a majority and loses with a majority of rejections', () => {
    it.each<[string, NodeId[], NodeId[], NodeId[], Role]>([
      ['single node', ['n1'], [], [], 'leader'],
      ['3 nodes, one grant', V3, ['n2'], [], 'leader'],
      ['3 nodes, one rejection', V3, [], ['n2'], 'candidate'],
      ['3 nodes, two rejections', V3, [], ['n2', 'n3'], 'follower'],
      ['5 nodes, one grant', V5, ['n2'], [], 'candidate'],
      ['5 nodes, two grants', V5, ['n2', 'n3'], [], 'leader'],
      ['5 nodes, one grant two rejections', V5, ['n2'], ['n3', 'n4'], 'candidate'],
      ['5 nodes, three rejections', V5, ['n2'], ['n3', 'n4', 'n5'], 'follower'],
    ])('%s', (_name, voters, grants, rejects, expected) => {
      const core = newCore('n1', voters, { preVote: false });
      tickUntilCampaign(core);
      readMessages(core);
      for (const id of grants) core.step(voteResp(id, 'n1', 1, true));
      for (const id of rejects) core.step(voteResp(id, 'n1', 1, false));
      expect(core.role).toBe(expected);
      expect(core.term).toBe(1); // losing does not change the term
      if (expected === 'leader') expect(core.leaderId).toBe('n1');
    });

    it('a vote counts once per voter', () => {
      const core = newCore('n1', V5, { preVote: false });
      tickUntilCampaign(core);
      for (let i = 0; i < 3; i++) core.step(voteResp('n2', 'n1', 1, true));
      expect(core.role).toBe('candidate');
    });

    it('a pre-candidate rejected by a majority goes back to follower without changing its term', () => {
      const core = follower('n1', V3, [], 4);
      tickUntilCampaign(core);
      core.step(voteResp('n2', 'n1', 4, false, true));
      core.step(voteResp('n3', 'n1', 4, false, true));
      expect([core.role, core.term, core.vote]).toEqual(['follower', 4, null]);
    });
  });

  it('a candidate becomes follower when a leader of the same term appends to it', () => {
    for (const msg of [appendReq('n2', 'n1', 1, 0, 0), heartbeat('n2', 'n1', 1)]) {
      const core = newCore('n1', V3, { preVote: false });
      tickUntilCampaign(core);
      core.step(msg);
      expect([core.role, core.term, core.leaderId]).toEqual(['follower', 1, 'n2']);
    }
    const pre = follower('n1', V3, [], 3);
    tickUntilCampaign(pre);
    pre.step(heartbeat('n2', 'n1', 3));
    expect([pre.role, pre.term, pre.leaderId]).toEqual(['follower', 3, 'n2']);
  });

  it('a candidate ignores an append from a stale leader (and tells it the newer term)', () => {
    const core = follower('n1', V3, [], 1, 0, { preVote: false });
    tickUntilCampaign(core);
    readMessages(core);
    core.step(appendReq('n2', 'n1', 1, 0, 0));
    expect([core.role, core.term]).toEqual(['candidate', 2]);
    expect(readMessages(core)).toEqual([appendResp('n1', 'n2', 2, 0)]);
  });
});

describe('§5.2, §5.4.1 voting', () => {
  it('a voter grants at most one vote per term, first come first served', () => {
    const core = newCore('n1', V3);
    core.step(voteReq('n2', 'n1', 1, 0, 0));
    expect(core.vote).toBe('n2');
    core.step(voteReq('n3', 'n1', 1, 0, 0));
    core.step(voteReq('n2', 'n1', 1, 0, 0)); // a retransmission is granted again
    const answers = ofType(readMessages(core), 'vote-resp').map((m) => [m.to, m.term, m.granted]);
    expect(answers).toEqual([
      ['n2', 1, true],
      ['n3', 1, false],
      ['n2', 1, true],
    ]);
    expect(core.vote).toBe('n2');
    // A new term is a new vote.
    core.step(voteReq('n3', 'n1', 2, 0, 0));
    expect([core.term, core.vote]).toEqual([2, 'n3']);
  });

  it('a granted vote is durable before the answer goes out', () => {
    const core = newCore('n1', V3);
    core.step(voteReq('n2', 'n1', 1, 0, 0));
    const rd = core.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 'n2', commit: 0 });
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist).toEqual([voteResp('n1', 'n2', 1, true)]);
  });

  describe('a voter rejects a candidate whose log is less up to date', () => {
    // The voter's log: 1/1 2/2 (last term 2, last index 2), at term 2.
    it.each<[string, number, number, boolean]>([
      ['same last term, same length', 2, 2, true],
      ['same last term, longer', 3, 2, true],
      ['same last term, shorter (last-index rule)', 1, 2, false],
      ['lower last term, longer (last-term rule)', 5, 1, false],
      ['higher last term, shorter', 1, 3, true],
      ['empty log', 0, 0, false],
    ])('%s', (_name, lastIndex, lastTerm, granted) => {
      for (const preVote of [false, true]) {
        const core = follower('n1', V3, [1, 2], 2);
        core.step(voteReq('n2', 'n1', 3, lastIndex, lastTerm, { preVote }));
        const [resp] = readMessages(core);
        expect(resp).toMatchObject({ type: preVote ? 'pre-vote-resp' : 'vote-resp', to: 'n2', granted });
        expect(core.vote).toBe(granted && !preVote ? 'n2' : null);
        expect(core.term).toBe(preVote ? 2 : 3);
      }
    });
  });
});

describe('election timeout randomisation', () => {
  /** The ticks between successive campaigns of a lone candidate that never gets an answer. */
  function timeouts(random: () => number, n: number): number[] {
    const core = newCore('n1', V3, { preVote: false, random });
    const out: number[] = [];
    let term = core.term;
    let ticks = 0;
    while (out.length < n) {
      core.tick();
      ticks++;
      if (core.term !== term) {
        out.push(ticks);
        ticks = 0;
        term = core.term;
      }
    }
    return out;
  }

  it('draws every election timeout from [min, max], differently across resets', () => {
    const seen = timeouts(seededRandom(7), 300);
    expect(Math.min(...seen)).toBe(10);
    expect(Math.max(...seen)).toBe(20);
    expect(new Set(seen).size).toBe(11); // every value of [10, 20] occurs
    // Not the same timeout twice in a row every time (each reset draws anew).
    expect(seen.filter((t, i) => i > 0 && t !== seen[i - 1]).length).toBeGreaterThan(200);
  });

  it('is deterministic given the seed, and the seed matters', () => {
    expect(timeouts(seededRandom(7), 50)).toEqual(timeouts(seededRandom(7), 50));
    expect(timeouts(seededRandom(7), 50)).not.toEqual(timeouts(seededRandom(8), 50));
  });

  it('maps the random source onto the bounds', () => {
    expect(timeouts(() => 0, 5)).toEqual([10, 10, 10, 10, 10]);
    expect(timeouts(() => 0.9999999, 5)).toEqual([20, 20, 20, 20, 20]);
  });
});

describe('§5.3 log replication', () => {
  it('a new leader appends a no-op entry of its term and every node applies it', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const term = net.core('n1').term;
    for (const id of V3) {
      const e = net.core(id).log.entry(1)!;
      expect([e.type, e.term]).toEqual([EntryType.Noop, term]);
      expect(net.core(id).log.commit).toBe(1);
      expect(net.node(id).applied.map((a) => a.index)).toEqual([1]);
    }
  });

  it('the leader sends a heartbeat to every follower every heartbeatTicks ticks', () => {
    const core = newCore('n1', V3, { heartbeatTicks: 3, checkQuorum: false });
    makeLeader(core);
    const perTick: number[] = [];
    for (let i = 0; i < 12; i++) {
      core.tick();
      perTick.push(ofType(readMessages(core), 'heartbeat').length);
    }
    expect(perTick).toEqual([0, 0, 2, 0, 0, 2, 0, 0, 2, 0, 0, 2]);
  });

  it('a heartbeat carries the commit index, capped at what the follower is known to hold', () => {
    const core = newCore('n1', V3, { preVote: false });
    makeLeader(core); // its no-op is at index 1
    core.step(appendResp('n2', 'n1', 1, 1));
    drain(core);
    expect(core.log.commit).toBe(1);
    core.tick();
    const hb = ofType(readMessages(core), 'heartbeat');
    expect(hb.map((m) => [m.to, m.commit])).toEqual([
      ['n2', 1],
      ['n3', 0],
    ]);
  });

  it('the leader counts itself toward a commit only once its entry is durable (after advance)', () => {
    const core = newCore('n1', V3, { preVote: false });
    tickUntilCampaign(core);
    readMessages(core);
    core.step(voteResp('n2', 'n1', 1, true));
    expect(core.role).toBe('leader');
    const rd = core.ready();
    expect(rd.entries.map((e) => [e.index, e.term, e.type])).toEqual([[1, 1, EntryType.Noop]]);
    // Appends may leave before the leader's own write is done.
    expect(ofType(rd.messages, 'append').map((m) => [m.to, m.entries.length])).toEqual([
      ['n2', 1],
      ['n3', 1],
    ]);
    expect(rd.committed).toEqual([]);
    core.step(appendResp('n2', 'n1', 1, 1));
    expect(core.log.commit).toBe(0); // n2 alone is not a majority: the leader's copy is not durable yet
    core.advance(rd);
    expect(core.log.commit).toBe(1);
    const next = core.ready();
    expect(next.committed.map((e) => e.index)).toEqual([1]);
    expect(next.hardState?.commit).toBe(1);
  });

  it('an entry is committed once a majority holds it durably, not before, and is then applied everywhere', () => {
    const net = new Network({ ids: V5 });
    net.elect('n1');
    const { index } = net.propose('n1', 'x');
    net.flush();
    const appends = ofType(net.take(), 'append');
    expect(appends.map((m) => m.to)).toEqual(['n2', 'n3', 'n4', 'n5']);
    expect(net.core('n1').log.commit).toBe(index - 1);
    expect(net.node('n1').appliedIndex).toBe(index - 1); // never applied before it commits

    const deliverAndAnswer = (to: NodeId): void => {
      net.deliver(appends.filter((m) => m.to === to));
      net.flush();
      net.deliver(net.take());
      net.flush();
    };
    deliverAndAnswer('n2'); // leader + n2 = 2 of 5
    expect(net.core('n1').log.commit).toBe(index - 1);
    expect(net.node('n1').appliedIndex).toBe(index - 1);
    deliverAndAnswer('n3'); // 3 of 5
    expect(net.core('n1').log.commit).toBe(index);
    expect(text(net.node('n1').applied.at(-1)!)).toBe('x');

    net.deliver(appends.filter((m) => m.to === 'n4' || m.to === 'n5'));
    net.stabilize();
    for (const id of V5) {
      expect(net.core(id).log.commit).toBe(index);
      expect(net.node(id).applied.map(text)).toEqual(['', 'x']);
    }
  });

  it('followers learn the commit index from the next append, or from a heartbeat when that append is lost', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const { index } = net.propose('n1', 'x');
    // Lose the empty append that would tell the followers about the commit.
    net.intercept = (m) => (m.type === 'append' && m.entries.length === 0 ? null : m);
    net.stabilize();
    expect(net.core('n1').log.commit).toBe(index);
    expect(net.core('n2').log.commit).toBe(index - 1);
    expect(net.node('n2').appliedIndex).toBe(index - 1);
    net.intercept = null;
    net.tick(1, ['n1']);
    for (const id of ['n2', 'n3']) {
      expect(net.core(id).log.commit).toBe(index);
      expect(net.node(id).appliedIndex).toBe(index);
    }

    // With nothing lost, the append that follows the commit carries it.
    const second = net.propose('n1', 'y');
    net.stabilize();
    expect(net.core('n2').log.commit).toBe(second.index);
    expect(net.node('n3').applied.map(text)).toEqual(['', 'x', 'y']);
  });

  describe('consistency check: a follower appends only after an entry matching (prevIndex, prevTerm)', () => {
    // The follower's log:  index 1 2 3 4 5  /  term 1 1 2 2 2
    const LOG = [1, 1, 2, 2, 2];

    it.each<[string, number, number, number, number]>([
      ['prevTerm differs at prevIndex', 5, 3, 5, 2],
      ['prevTerm differs further back', 4, 1, 2, 1],
      ['prevIndex beyond the last entry', 8, 3, 5, 2],
      ['prevIndex beyond the last entry, older prevTerm', 7, 1, 2, 1],
    ])('rejects when %s, with a hint (hintIndex, hintTerm)', (_name, prevIndex, prevTerm, hintIndex, hintTerm) => {
      const core = follower('n2', V3, LOG, 2);
      core.step(appendReq('n1', 'n2', 3, prevIndex, prevTerm, [entry(prevIndex + 1, 3)]));
      expect(termsOf(core.log)).toEqual(LOG); // nothing appended
      expect(readMessages(core)).toEqual([appendResp('n2', 'n1', 3, prevIndex, true, hintIndex, hintTerm)]);
    });

    it.each<[number, number]>([
      [5, 2],
      [3, 2],
      [0, 0],
    ])('accepts at (%d, %d)', (prevIndex, prevTerm) => {
      const core = follower('n2', V3, LOG, 2);
      core.step(appendReq('n1', 'n2', 3, prevIndex, prevTerm, [entry(prevIndex + 1, 3)]));
      expect(core.log.term(prevIndex + 1)).toBe(3);
      expect(core.log.lastIndex()).toBe(prevIndex + 1);
      expect(readMessages(core)).toEqual([appendResp('n2', 'n1', 3, prevIndex + 1)]);
    });
  });

  describe('the leader backs off by term using the hint, not one index per round trip', () => {
    const base = repeat(1, 5);
    it.each<[string, number[], number[], number]>([
      ['a long conflicting tail from an older term', [...base, ...repeat(3, 45)], [...base, ...repeat(2, 100)], 2],
      ['a long conflicting tail from a newer term than the leader’s log', [...base, ...repeat(2, 45)], [...base, ...repeat(3, 100)], 3],
      ['a much shorter log', [...base, ...repeat(3, 45)], base, 1],
    ])('follower with %s', (_name, leaderLog, followerLog, followerTerm) => {
      const net = new Network({
        ids: V3,
        initial: {
          n1: { entries: entriesWithTerms(leaderLog), hardState: { term: 4, commit: 5 } },
          n2: { entries: entriesWithTerms(leaderLog), hardState: { term: 4, commit: 5 } },
          n3: { entries: entriesWithTerms(followerLog), hardState: { term: followerTerm, commit: 5 } },
        },
      });
      net.elect('n1');
      const leader = net.core('n1');
      expect(leader.role).toBe('leader');
      const toN3 = ofType(net.delivered, 'append').filter((m) => m.from === 'n1' && m.to === 'n3');
      const rejects = ofType(net.delivered, 'append-resp').filter((m) => m.from === 'n3' && m.reject);
      // One rejection jumps straight to the last common entry (index 5): two appends in all,
      // where backing off one index at a time would take ~45 (or ~95) round trips.
      expect(rejects).toHaveLength(1);
      expect(toN3.filter((m) => m.entries.length > 0)).toHaveLength(2);
      expect(toN3[1].prevIndex).toBe(5);
      expect(termsOf(net.core('n3').log)).toEqual(termsOf(leader.log));
      expect(net.core('n3').log.commit).toBe(leader.log.lastIndex());
    });
  });

  it('conflicting follower entries are truncated and replaced by the leader’s', () => {
    const core = follower('n2', V3, [1, 1, 2, 2], 2, 2);
    core.step(appendReq('n1', 'n2', 3, 2, 1, [entry(3, 3, 'new')], 2));
    expect(termsOf(core.log)).toEqual([1, 1, 3]);
    const rd = core.ready();
    // The driver truncates its stored log at entries[0].index before writing.
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([[3, 3]]);
    expect(rd.messagesAfterPersist).toEqual([appendResp('n2', 'n1', 3, 3)]);
    core.advance(rd);
  });

  it('an append holding entries the follower already has does not truncate what follows them', () => {
    const core = follower('n2', V3, [1, 1, 1], 1);
    core.step(appendReq('n1', 'n2', 1, 1, 1, [entry(2, 1, 'e2t1')]));
    expect(termsOf(core.log)).toEqual([1, 1, 1]);
    const rds = drain(core);
    expect(rds.flatMap((rd) => rd.entries)).toEqual([]);
    expect(rds.flatMap((rd) => rd.messagesAfterPersist)).toEqual([appendResp('n2', 'n1', 1, 2)]);
  });

  it('a follower commits min(leaderCommit, index of the last new entry)', () => {
    const core = follower('n2', V3, [1, 1, 1, 1], 1);
    // The leader has committed 4, but this append only vouches for entries up to 2.
    core.step(appendReq('n1', 'n2', 1, 1, 1, [entry(2, 1, 'e2t1')], 4));
    expect(core.log.commit).toBe(2);
    core.step(appendReq('n1', 'n2', 1, 4, 1, [], 3));
    expect(core.log.commit).toBe(3);
    expect(drain(core).flatMap((rd) => rd.committed.map((e) => e.index))).toEqual([1, 2, 3]);
  });

  it('committed entries are never truncated: an append below the commit index is acknowledged at the commit index and ignored', () => {
    const core = follower('n2', V3, [1, 1, 2], 2, 3);
    core.step(appendReq('n1', 'n2', 3, 1, 1, [entry(2, 3), entry(3, 3)], 3));
    expect(termsOf(core.log)).toEqual([1, 1, 2]);
    expect(readMessages(core)).toEqual([appendResp('n2', 'n1', 3, 3)]);
  });
});

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  const S = ['s1', 's2', 's3', 's4', 's5'];

  /**
   * Builds Figure 8 (c) step by step; terms are shifted by one from the paper's (our first leader is
   * elected in term 1), and every new leader's first entry is its no-op.
   *   (a) s1 leads term 1 and replicates entry 2/1 to s2 only.
   *   (b) s1 crashes; s5 is elected in term 2 by s3, s4, s5 and appends 2/2, which reaches nobody.
   *   (c) s5 crashes; s1 restarts, is elected in term 3 and replicates 2/1 to s3. Its own 3/3 is lost
   *       on the way (the network cuts its appends short), so 2/1 is on a majority (s1, s2, s3).
   */
  function figure8c(): Network {
    const net = new Network({ ids: S, config: { preVote: false, checkQuorum: false } });
    net.elect('s1');
    expect(net.core('s1').term).toBe(1);

    // (a)
    net.partition(['s1', 's2'], ['s3', 's4', 's5']);
    net.propose('s1', 'old');
    net.stabilize();
    expect(termsOf(net.core('s2').log)).toEqual([1, 1]);
    expect(termsOf(net.core('s3').log)).toEqual([1]);
    expect(net.core('s1').log.commit).toBe(1);

    // (b)
    net.crash('s1');
    net.heal();
    net.intercept = (m) => (m.from === 's5' && m.type === 'append' ? null : m);
    net.elect('s5');
    expect(net.core('s5').term).toBe(2);
    expect(termsOf(net.core('s5').log)).toEqual([1, 2]);
    net.crash('s5');

    // (c)
    net.restart('s1');
    net.cut('s1', 's4');
    net.intercept = (m) => {
      if (m.type !== 'append' || m.from !== 's1') return m;
      const term = net.core('s1').term;
      return { ...m, entries: m.entries.filter((e) => e.term < term) };
    };
    net.elect('s1');
    expect(net.core('s1').term).toBe(3);
    expect(termsOf(net.core('s1').log)).toEqual([1, 1, 3]);
    return net;
  }

  it('(c) an entry of an earlier term stored on a majority is not committed by counting replicas', () => {
    const net = figure8c();
    for (const id of ['s1', 's2', 's3']) expect(net.core(id).log.term(2)).toBe(1);
    expect(net.core('s1').log.commit).toBe(1);
    for (const id of ['s1', 's2', 's3', 's4']) expect(net.node(id).appliedIndex).toBe(1);
  });

  it('(d) so a later leader may still overwrite it, and nobody ever applied it', () => {
    const net = figure8c();
    net.crash('s1');
    net.intercept = null;
    net.heal();
    net.restart('s5');
    net.elect('s5'); // s2, s3, s4 vote for it: its last term (2) beats theirs (1)
    expect(net.core('s5').term).toBeGreaterThan(3);
    net.restart('s1');
    net.tick(3);
    for (const id of S) {
      expect(net.core(id).log.term(2)).toBe(2);
      expect(net.node(id).applied.find((e) => e.index === 2)?.term).toBe(2);
    }
  });

  it('(e) once an entry of its own term is committed, the earlier entry is committed with it and can no longer be lost', () => {
    const net = figure8c();
    net.intercept = null;
    const { index } = net.propose('s1', 'new');
    net.stabilize();
    const s1 = net.core('s1');
    expect(s1.log.commit).toBe(index);
    for (const id of ['s1', 's2', 's3']) {
      expect(net.node(id).applied.filter((e) => e.index >= 2).map((e) => [e.index, e.term, text(e)])).toEqual([
        [2, 1, 'old'],
        [3, 3, ''],
        [4, 3, 'new'],
      ]);
    }

    // s5 (last entry 2/2) can no longer win: s2 and s3 hold a newer log.
    net.crash('s1');
    net.heal();
    net.restart('s5');
    const termBefore = net.core('s5').term;
    net.tick(80, ['s5']);
    expect(net.core('s5').term).toBeGreaterThanOrEqual(termBefore + 3); // it kept trying
    expect(net.core('s5').role).not.toBe('leader');

    net.elect('s2');
    net.tick(3);
    for (const id of ['s2', 's3', 's4', 's5']) {
      expect(net.core(id).log.term(2)).toBe(1);
      expect(net.node(id).appliedIndex).toBeGreaterThanOrEqual(index);
    }
  });
});

describe('persistent state across restarts', () => {
  it('a restarted node keeps its term and vote, so it never votes twice in a term', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const term = net.core('n1').term;
    expect(net.core('n2').vote).toBe('n1');
    net.crash('n2');
    const n2 = net.restart('n2');
    expect([n2.role, n2.term, n2.vote, n2.leaderId]).toEqual(['follower', term, 'n1', null]);

    const last = n2.log.lastIndex();
    net.inject(voteReq('n3', 'n2', term, last + 5, term));
    net.flush();
    expect(ofType(net.take(), 'vote-resp')).toEqual([voteResp('n2', 'n3', term, false)]);

    // Had the vote not been on disk, the same request would have been granted: the disk is what matters.
    net.crash('n2');
    net.restart('n2', (disk) => {
      disk.hardState.vote = null;
    });
    net.inject(voteReq('n3', 'n2', term, last + 5, term));
    net.flush();
    expect(ofType(net.take(), 'vote-resp')).toEqual([voteResp('n2', 'n3', term, true)]);
  });

  it('a restarted node re-applies its committed entries from its log', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.propose('n1', 'a');
    net.propose('n1', 'b');
    net.stabilize();
    const before = net.node('n2').applied.map((e) => [e.index, e.term, text(e)]);
    expect(before).toHaveLength(3);
    net.stop('n2'); // a crash could lose the commit index (decision 0006); a clean stop writes it
    net.isolate('n2'); // the entries come from its own disk, not from the leader
    net.restart('n2');
    expect(net.node('n2').appliedIndex).toBe(0);
    net.flush();
    expect(net.node('n2').applied.map((e) => [e.index, e.term, text(e)])).toEqual(before);
  });

  it('a restarted leader comes back as a follower at its term and rejoins the cluster', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.propose('n1', 'a');
    net.stabilize();
    const term = net.core('n1').term;
    net.crash('n1');
    const n1 = net.restart('n1');
    expect([n1.role, n1.term]).toEqual(['follower', term]);
    net.tickUntil(() => net.leader() !== null);
    const leader = net.leader()!;
    net.propose(leader, 'b');
    net.stabilize();
    for (const id of V3) expect(net.node(id).applied.map(text).slice(-1)).toEqual(['b']);
  });
});
