/**
 * The parts of the core beyond the basic paper: pre-vote, check-quorum and the leader lease,
 * leadership transfer, ReadIndex, membership changes, snapshots in chunks, flow control and bounds.
 */
import { ConfChange, EntryType, Message, NodeId, RaftError } from '../src/core';
import {
  appendResp,
  drain,
  makeLeader,
  Network,
  newCore,
  ofType,
  persistentState,
  readMessages,
  text,
  tickUntilCampaign,
  voteReq,
  voteResp,
} from './harness';

const V3 = ['n1', 'n2', 'n3'];

function raftError(fn: () => unknown): RaftError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RaftError) return err;
    throw err;
  }
  throw new Error('expected a RaftError, nothing was thrown');
}

/** Every live node follows one leader, at one term. */
function converged(net: Network): boolean {
  const leader = net.leader();
  if (leader === null) return false;
  const term = net.core(leader).term;
  return net.aliveIds().every((id) => net.core(id).leaderId === leader && net.core(id).term === term);
}

function campaignsBy(msgs: Message[], id: NodeId): Message[] {
  return msgs.filter((m) => m.from === id && (m.type === 'vote' || m.type === 'pre-vote'));
}

describe('pre-vote', () => {
  it('a partitioned node does not raise its term, and does not disrupt the leader when it rejoins', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(5);
    const term = net.core('n1').term;
    net.isolate('n3');
    const sentBefore = net.sent.length;
    net.tick(100);
    const n3 = net.core('n3');
    expect(n3.term).toBe(term);
    const tries = campaignsBy(net.sent.slice(sentBefore), 'n3');
    expect(tries.length).toBeGreaterThanOrEqual(8); // it did try, all along
    expect(tries.every((m) => m.type === 'pre-vote' && m.term === term + 1)).toBe(true);

    const n1States = net.node('n1').softStates.length;
    net.heal();
    net.tick(100);
    expect(net.leader()).toBe('n1');
    for (const id of V3) expect([net.core(id).term, net.core(id).leaderId]).toEqual([term, 'n1']);
    expect(net.node('n1').softStates.slice(n1States)).toEqual([]); // n1 never left the leader role
    const { index } = net.propose('n1', 'x');
    net.stabilize();
    for (const id of V3) expect(net.node(id).appliedIndex).toBe(index);
  });

  it('(contrast) without pre-vote and check-quorum, the same partition lets the rejoining node depose the leader', () => {
    const net = new Network({ ids: V3, config: { preVote: false, checkQuorum: false } });
    net.elect('n1');
    const term = net.core('n1').term;
    net.isolate('n3');
    net.tick(100);
    const inflated = net.core('n3').term;
    expect(inflated).toBeGreaterThan(term + 3);
    expect(net.core('n1').role).toBe('leader');
    const n1States = net.node('n1').softStates.length;
    net.heal();
    net.tick(50);
    expect(net.core('n1').term).toBeGreaterThanOrEqual(inflated);
    expect(net.node('n1').softStates.slice(n1States).map((s) => s.role)).toContain('follower'); // deposed
  });
});

describe('check-quorum and the leader lease', () => {
  it('a leader that loses contact with a quorum steps down within an election timeout, and the majority elects another', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(7);
    const term = net.core('n1').term;
    net.isolate('n1');
    const ticks = net.tickUntil(() => net.core('n1').role !== 'leader', 100, ['n1']);
    expect(ticks).toBeGreaterThan(0);
    expect(ticks).toBeLessThanOrEqual(20);
    expect([net.core('n1').role, net.core('n1').term, net.core('n1').leaderId]).toEqual(['follower', term, null]);

    net.tickUntil(() => net.leader() !== null && net.leader() !== 'n1', 100, ['n2', 'n3']);
    expect(net.core(net.leader()!).term).toBeGreaterThan(term);
  });

  it('a leader that hears from a quorum stays leader, even with a follower down', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.crash('n3');
    net.tick(200);
    expect(net.core('n1').role).toBe('leader');
    expect(net.node('n1').softStates.map((s) => s.role)).toEqual(['pre-candidate', 'candidate', 'leader']);
  });

  it('a follower that heard from its leader recently ignores a higher-term vote request, unless it is a leadership transfer', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(2);
    const term = net.core('n1').term;
    const last = net.core('n2').log.lastIndex();
    for (const preVote of [false, true]) {
      net.inject(voteReq('n3', 'n2', term + 5, last + 10, term, { preVote }));
      expect(net.flush()).toEqual([]); // not even an answer
      expect([net.core('n2').term, net.core('n2').vote, net.core('n2').leaderId]).toEqual([term, 'n1', 'n1']);
    }
    // The leader itself is in its lease as well.
    net.inject(voteReq('n3', 'n1', term + 5, last + 10, term));
    expect([net.core('n1').role, net.core('n1').term]).toEqual(['leader', term]);
    expect(net.flush()).toEqual([]);

    net.inject(voteReq('n3', 'n2', term + 5, last + 10, term, { transfer: true }));
    expect([net.core('n2').term, net.core('n2').vote]).toEqual([term + 5, 'n3']);
    expect(ofType(net.flush(), 'vote-resp')).toEqual([voteResp('n2', 'n3', term + 5, true)]);
  });

  it('once the lease has run out (no word from the leader for the minimum election timeout), the vote request is honoured', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const term = net.core('n1').term;
    net.crash('n1');
    net.tick(10, ['n2']);
    net.inject(voteReq('n3', 'n2', term + 5, 100, term));
    expect([net.core('n2').term, net.core('n2').vote]).toEqual([term + 5, 'n3']);
  });

  it('pre-vote and check-quorum together do not deadlock a node with a higher term and a stale log (etcd#9586)', () => {
    const net = new Network({ ids: V3 });
    net.isolate('n3');
    net.elect('n1');
    net.propose('n1', 'a');
    net.propose('n1', 'b');
    net.stabilize();
    const term = net.core('n1').term;
    // n3 comes back with a higher term (it campaigned without pre-vote while cut off, say) and a stale log.
    net.crash('n3');
    net.restart('n3', (disk) => {
      disk.hardState = { ...disk.hardState, term: term + 3, vote: 'n3' };
    });
    expect(net.core('n3').log.lastIndex()).toBeLessThan(net.core('n1').log.lastIndex());
    net.heal();

    // n3 cannot win (stale log) and would ignore the lower-term leader forever if nothing gave way.
    const ticks = net.tickUntil(() => converged(net), 300);
    expect(ticks).toBeGreaterThan(0);
    const leader = net.leader()!;
    expect(leader).not.toBe('n3');
    expect(net.core(leader).term).toBeGreaterThan(term + 3);
    net.tick(30);
    expect(converged(net)).toBe(true);
    expect(net.leader()).toBe(leader);

    const { index } = net.propose(leader, 'c');
    net.stabilize();
    for (const id of V3) {
      expect(net.node(id).appliedIndex).toBe(index);
      expect(net.core(id).log.slice(1, index).filter((e) => e.type === EntryType.Normal).map(text)).toEqual(['a', 'b', 'c']);
    }
  });
});

describe('leadership transfer (TimeoutNow)', () => {
  it('to a caught-up follower: TimeoutNow at once, and it wins the next term', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(2);
    const term = net.core('n1').term;
    net.core('n1').transferLeadership('n2');
    expect(ofType(net.flush(), 'timeout-now')).toEqual([{ type: 'timeout-now', from: 'n1', to: 'n2', term }]);
    net.stabilize();
    expect(net.leader()).toBe('n2');
    expect(net.core('n2').term).toBe(term + 1);
    expect(converged(net)).toBe(true);
    const { index } = net.propose('n2', 'x');
    net.stabilize();
    for (const id of V3) expect(net.node(id).appliedIndex).toBe(index);
  });

  it('to a lagging follower: it is caught up first, then told to campaign; proposals are refused meanwhile', () => {
    const net = new Network({ ids: V3 });
    net.isolate('n3');
    net.elect('n1');
    for (const d of ['a', 'b', 'c']) net.propose('n1', d);
    net.stabilize();
    const last = net.core('n1').log.lastIndex();
    expect(net.core('n3').log.lastIndex()).toBe(0);
    net.heal();

    let n3LastAtTimeoutNow = -1;
    net.intercept = (m) => {
      if (m.type === 'timeout-now') n3LastAtTimeoutNow = net.core('n3').log.lastIndex();
      return m;
    };
    net.core('n1').transferLeadership('n3');
    expect(ofType(net.flush(), 'timeout-now')).toEqual([]);
    expect(raftError(() => net.propose('n1', 'refused')).code).toBe('transfer_in_progress');

    net.tickUntil(() => net.leader() === 'n3', 10, ['n1']);
    expect(n3LastAtTimeoutNow).toBe(last);
    expect(converged(net)).toBe(true);
    expect(net.core('n3').log.slice(1, last).map(text).filter((t) => t !== '')).toEqual(['a', 'b', 'c']);
  });

  it('is abandoned after an election timeout when the target does not answer, and proposals resume', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.isolate('n3');
    net.propose('n1', 'behind');
    net.stabilize();
    net.core('n1').transferLeadership('n3');
    expect(net.core('n1').status().leadTransferee).toBe('n3');
    net.tick(5, ['n1']);
    expect(raftError(() => net.propose('n1', 'x')).code).toBe('transfer_in_progress');
    const ticks = net.tickUntil(() => net.core('n1').status().leadTransferee === null, 30, ['n1']);
    expect(ticks + 5).toBeLessThanOrEqual(20);
    expect(net.core('n1').role).toBe('leader');
    const { index } = net.propose('n1', 'y');
    net.stabilize();
    expect(net.core('n1').log.commit).toBe(index);
  });

  it('without a target goes to the most caught-up voter; to itself is a no-op; only a leader transfers, only to a voter', () => {
    const net = new Network({ ids: ['n1', 'n2', 'n3'], learners: ['n4'], config: { autoPromote: false } });
    net.isolate('n3');
    net.elect('n1');
    net.core('n1').transferLeadership('n1');
    expect(net.core('n1').status().leadTransferee).toBeNull();
    expect(raftError(() => net.core('n1').transferLeadership('n4')).code).toBe('bad_conf_change');
    expect(raftError(() => net.core('n2').transferLeadership('n3')).code).toBe('not_leader');
    net.core('n1').transferLeadership();
    expect(net.core('n1').status().leadTransferee).toBe('n2');
    net.stabilize();
    expect(net.leader()).toBe('n2');
  });
});

describe('ReadIndex', () => {
  it('on the leader: the read state carries the commit index once a quorum answered a heartbeat round', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const { index } = net.propose('n1', 'x');
    net.stabilize();
    net.core('n1').readIndex(7);
    const round = ofType(net.flush(), 'heartbeat');
    expect(round.map((m) => m.to)).toEqual(['n2', 'n3']);
    expect(round[0].readRound).toBeGreaterThan(0);
    expect(net.node('n1').readStates).toEqual([]);
    net.stabilize();
    expect(net.node('n1').readStates).toEqual([{ requestId: 7, index }]);
  });

  it('through a follower: the request is forwarded to the leader and the answer carries the leader’s commit index', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const { index } = net.propose('n1', 'x');
    net.stabilize();
    const term = net.core('n1').term;
    net.core('n2').readIndex(8);
    expect(ofType(net.flush(), 'read-index')).toEqual([{ type: 'read-index', from: 'n2', to: 'n1', term, requestId: 8 }]);
    net.stabilize();
    expect(ofType(net.delivered, 'read-index-resp')).toEqual([{ type: 'read-index-resp', from: 'n1', to: 'n2', term, requestId: 8, index }]);
    expect(net.node('n2').readStates).toEqual([{ requestId: 8, index }]);
    expect(net.node('n1').readStates).toEqual([]);
  });

  it('a follower that knows no leader fails the read at once', () => {
    const core = newCore('n1', V3);
    core.readIndex(3);
    expect(drain(core).flatMap((rd) => rd.readStates)).toEqual([{ requestId: 3, index: -1 }]);
  });

  it('a leader that has not committed an entry of its term defers reads until it has', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.propose('n1', 'x');
    net.stabilize();
    // n2 takes over, but its no-op reaches nobody for now.
    net.intercept = (m) => (m.from === 'n2' && m.type === 'append' ? null : m);
    net.core('n1').transferLeadership('n2');
    net.stabilize();
    const n2 = net.core('n2');
    expect(n2.role).toBe('leader');
    const noop = n2.log.lastIndex();
    expect(n2.log.commit).toBe(noop - 1); // only the previous term's entries
    n2.readIndex(9);
    net.tick(3, ['n2']);
    expect(net.node('n2').readStates).toEqual([]); // answering now would use a possibly stale commit index

    net.intercept = null;
    net.tickUntil(() => net.node('n2').readStates.length > 0, 10, ['n2']);
    expect(n2.log.commit).toBe(noop);
    expect(net.node('n2').readStates).toEqual([{ requestId: 9, index: noop }]);
  });

  it('a leader partitioned away never answers a read with an index: it steps down and fails the read with -1', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.propose('n1', 'x');
    net.stabilize();
    const staleCommit = net.core('n1').log.commit;
    net.isolate('n1');
    net.core('n1').readIndex(10);
    net.tickUntil(() => net.core('n1').role !== 'leader', 40, ['n1']);
    expect(net.node('n1').readStates).toEqual([{ requestId: 10, index: -1 }]);

    // Meanwhile the others moved on: a read at the old commit index would have been stale.
    net.tickUntil(() => net.leader() !== null && net.leader() !== 'n1', 100, ['n2', 'n3']);
    const { index } = net.propose(net.leader()!, 'y');
    net.stabilize();
    expect(index).toBeGreaterThan(staleCommit);
    net.core('n1').readIndex(11);
    net.flush();
    expect(net.node('n1').readStates).toEqual([
      { requestId: 10, index: -1 },
      { requestId: 11, index: -1 },
    ]);
  });

  it('a leader that hears no heartbeat answers holds the read (no answer from its own say-so)', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.intercept = (m) => (m.type === 'heartbeat-resp' ? null : m);
    net.core('n1').readIndex(12);
    net.tick(8, ['n1']);
    expect(net.node('n1').readStates).toEqual([]);
    net.intercept = null;
    net.tick(1, ['n1']);
    expect(net.node('n1').readStates).toEqual([{ requestId: 12, index: net.core('n1').log.commit }]);
  });
});

describe('membership changes', () => {
  it('a new learner receives the log but does not campaign', () => {
    const net = new Network({ ids: V3, config: { autoPromote: false } });
    net.elect('n1');
    net.propose('n1', 'a');
    net.stabilize();
    net.addNode('n4');
    const { index } = net.core('n1').proposeConfChange({ type: 'addLearner', id: 'n4', address: 'addr4' });
    net.stabilize();
    for (const id of [...V3, 'n4']) {
      expect(net.core(id).conf).toEqual({ voters: V3, learners: ['n4'], addresses: { n4: 'addr4' } });
    }
    expect(net.core('n4').log.lastIndex()).toBe(index);
    expect(net.core('n4').isVoter()).toBe(false);
    expect(net.node('n4').applied.map(text)).toContain('a');

    net.crash('n1'); // no leader any more: a voter would campaign within 20 ticks
    const before = net.sent.length;
    net.tick(100, ['n4']);
    expect(campaignsBy(net.sent.slice(before), 'n4')).toEqual([]);
    expect(net.core('n4').role).toBe('follower');
  });

  it('a learner does not count toward a commit', () => {
    const net = new Network({ ids: ['n1', 'n2'], learners: ['n3'], config: { autoPromote: false } });
    net.elect('n1');
    net.propose('n1', 'a');
    net.stabilize();
    expect(net.node('n3').applied.map(text)).toEqual(['', 'a']);
    net.cut('n1', 'n2');
    const { index } = net.propose('n1', 'b');
    net.stabilize();
    expect(net.core('n3').log.lastIndex()).toBe(index); // the learner has it ...
    expect(net.core('n1').log.commit).toBe(index - 1); // ... but only n1 of the 2 voters does
    net.tick(3, ['n1']);
    expect(net.core('n1').log.commit).toBe(index - 1);
  });

  it('a candidate neither asks learners for votes nor counts theirs', () => {
    const core = newCore('n1', V3, { preVote: false }, persistentState(V3, { learners: ['n4'] }));
    tickUntilCampaign(core);
    expect(ofType(readMessages(core), 'vote').map((m) => m.to)).toEqual(['n2', 'n3']);
    core.step(voteResp('n4', 'n1', 1, true));
    expect(core.role).toBe('candidate');
    core.step(voteResp('n2', 'n1', 1, true));
    expect(core.role).toBe('leader');
  });

  it('a learner is promoted automatically once it has caught up, and not before', () => {
    const net = new Network({ ids: V3, config: { snapshotChunkSize: 10 } });
    net.elect('n1');
    net.propose('n1', 'a');
    net.stabilize();
    net.compact('n1'); // n4 will need the snapshot ...
    net.addNode('n4');
    let lost = false;
    net.intercept = (m) => {
      if (m.type !== 'snapshot' || lost) return m;
      lost = true; // ... and its first chunk is lost: it is resent after an election timeout
      return null;
    };
    net.core('n1').proposeConfChange({ type: 'addLearner', id: 'n4' });
    net.stabilize();
    net.tick(8);
    expect(lost).toBe(true);
    expect(net.node('n4').installedSnapshots).toEqual([]);
    expect(net.core('n1').conf.learners).toEqual(['n4']); // not caught up: still a learner

    net.tickUntil(() => net.core('n1').conf.voters.includes('n4'), 30);
    expect(net.node('n4').installedSnapshots).toHaveLength(1);
    net.tick(2);
    for (const id of [...V3, 'n4']) expect(net.core(id).conf).toMatchObject({ voters: [...V3, 'n4'], learners: [] });
    expect(net.core('n4').isVoter()).toBe(true);
    const promote = net.core('n1').log.entry(net.core('n1').confIndex)!;
    expect(promote.type).toBe(EntryType.ConfChange);
    expect(net.core('n1').log.commit).toBeGreaterThanOrEqual(promote.index);
  });

  it('removing a follower shrinks the quorum, and the leader stops sending to it', () => {
    const V4 = ['n1', 'n2', 'n3', 'n4'];
    const net = new Network({ ids: V4 });
    net.elect('n1');
    net.core('n1').proposeConfChange({ type: 'remove', id: 'n4' });
    net.stabilize();
    for (const id of V3) expect(net.core(id).conf.voters).toEqual(V3);
    const before = net.sent.length;
    net.crash('n3'); // n1 and n2 are 2 of the 3 voters left (they would be 2 of 4 before)
    const { index } = net.propose('n1', 'x');
    net.stabilize();
    net.tick(3);
    expect(net.core('n1').log.commit).toBe(index);
    expect(net.sent.slice(before).filter((m) => m.to === 'n4')).toEqual([]);
  });

  it('removing the leader: it steps down once the change commits and another node leads', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    const term = net.core('n1').term;
    const { index } = net.core('n1').proposeConfChange({ type: 'remove', id: 'n1' });
    expect(net.core('n1').role).toBe('leader'); // it keeps leading until the change is committed
    net.stabilize();
    const n1 = net.core('n1');
    expect(n1.role).toBe('follower');
    expect(n1.isVoter()).toBe(false);
    expect(n1.log.commit).toBeGreaterThanOrEqual(index);
    const leader = net.leader()!;
    expect(['n2', 'n3']).toContain(leader);
    expect(net.core(leader).term).toBeGreaterThan(term);

    const x = net.propose(leader, 'x');
    net.stabilize();
    for (const id of ['n2', 'n3']) expect(net.node(id).appliedIndex).toBe(x.index);
    const before = net.sent.length;
    net.tick(100, ['n1']);
    expect(campaignsBy(net.sent.slice(before), 'n1')).toEqual([]);
  });

  it('only one change at a time: a second one is refused until the first commits', () => {
    const net = new Network({ ids: V3, config: { autoPromote: false } });
    net.elect('n1');
    const leader = net.core('n1');
    leader.proposeConfChange({ type: 'addLearner', id: 'n4' });
    const err = raftError(() => leader.proposeConfChange({ type: 'addLearner', id: 'n5' }));
    expect(err.code).toBe('conf_change_pending');
    expect(leader.conf.learners).toEqual(['n4']);
    net.stabilize();
    leader.proposeConfChange({ type: 'addLearner', id: 'n5' });
    expect(leader.conf.learners).toEqual(['n4', 'n5']);
  });

  it('a change is refused until the leader has committed an entry of its term', () => {
    const net = new Network({ ids: V3 });
    net.intercept = (m) => (m.type === 'append' ? null : m);
    net.elect('n1');
    const leader = net.core('n1');
    expect(leader.log.commit).toBe(0);
    expect(raftError(() => leader.proposeConfChange({ type: 'addLearner', id: 'n4' })).code).toBe('conf_change_pending');
    net.intercept = null;
    net.tickUntil(() => leader.log.commit === 1, 5, ['n1']);
    expect(() => leader.proposeConfChange({ type: 'addLearner', id: 'n4' })).not.toThrow();
  });

  it('nonsensical changes are refused with bad_conf_change and change nothing', () => {
    const net = new Network({ ids: ['n1', 'n2'] });
    net.elect('n1');
    const leader = net.core('n1');
    const bad: ConfChange[] = [
      { type: 'addLearner', id: 'n2' },
      { type: 'promote', id: 'n2' },
      { type: 'remove', id: 'n9' },
    ];
    for (const change of bad) expect(raftError(() => leader.proposeConfChange(change)).code).toBe('bad_conf_change');
    expect(leader.conf.voters).toEqual(['n1', 'n2']);
    expect(leader.log.lastIndex()).toBe(1);
    expect(raftError(() => net.core('n2').proposeConfChange({ type: 'addLearner', id: 'n3' })).code).toBe('not_leader');
  });
});

describe('snapshots', () => {
  it('a follower behind the compaction point gets the snapshot in chunks, a lost chunk is resent from the acknowledged offset, then it continues by append', () => {
    const net = new Network({ ids: V3, config: { snapshotChunkSize: 10 } });
    net.isolate('n3');
    net.elect('n1');
    for (let i = 0; i < 8; i++) net.propose('n1', `v${i}`);
    net.stabilize();
    const meta = net.compact('n1', undefined, 35);
    expect(meta.index).toBe(9);
    expect(net.core('n1').log.firstIndex()).toBe(10);

    let lost = 0;
    const sentAt = new Map<string, number>();
    net.intercept = (m) => {
      if (m.type !== 'snapshot') return m;
      const key = `${m.offset}#${sentAt.size}`;
      sentAt.set(key, net.now);
      if (m.offset === 20 && lost === 0) {
        lost++;
        return null;
      }
      return m;
    };
    net.heal();
    net.tickUntil(() => net.node('n3').installedSnapshots.length > 0, 40);

    const chunks = ofType(net.sent, 'snapshot').filter((m) => m.to === 'n3');
    expect(chunks.map((m) => [m.offset, m.length, m.done])).toEqual([
      [0, 10, false],
      [10, 10, false],
      [20, 10, false], // lost
      [20, 10, false], // resent, from where n3 had got to, not from 0
      [30, 5, true],
    ]);
    expect(chunks.every((m) => m.data.length === m.length && m.meta.index === 9)).toBe(true);
    const times = [...sentAt.values()];
    expect(times[3] - times[2]).toBeGreaterThanOrEqual(10); // resent after a timeout, not at once

    const n3 = net.core('n3');
    expect(net.node('n3').installedSnapshots).toEqual([meta]);
    expect([n3.log.snapshot.index, n3.log.lastIndex(), n3.log.commit]).toEqual([9, 9, 9]);
    expect(net.node('n3').appliedIndex).toBe(9);
    expect(net.node('n3').disk.snapshotData).toEqual(net.node('n1').disk.snapshotData);
    expect(n3.conf.voters).toEqual(V3);

    net.intercept = null;
    const { index } = net.propose('n1', 'after');
    net.stabilize();
    expect(net.node('n3').applied.map(text)).toEqual(['after']);
    expect(ofType(net.delivered, 'append').some((m) => m.to === 'n3' && m.entries.some((e) => e.index === index))).toBe(true);

    // It restarts from its snapshot plus the entries after it (a clean stop has written its commit index).
    net.stop('n3');
    net.restart('n3');
    net.flush();
    expect(net.core('n3').log.snapshot.index).toBe(9);
    expect(net.node('n3').applied.map((e) => e.index)).toEqual([index]);
  });

  it('a follower writes only the chunk at the offset it expects, and tells the leader where to resume', () => {
    const core = newCore('n2', V3);
    const meta = { index: 9, term: 1, conf: { voters: V3, learners: [], addresses: {} }, size: 25 };
    const chunk = (offset: number, length: number, snapshotIndex = 9): Message => ({
      type: 'snapshot',
      from: 'n1',
      to: 'n2',
      term: 1,
      meta: { ...meta, index: snapshotIndex },
      offset,
      data: new Uint8Array(length).fill(offset + 1),
      length,
      done: offset + length === 25,
    });
    const answer = (m: Message): { writes: number[]; resp: [number, number, boolean][]; installed: boolean } => {
      core.step(m);
      const rds = drain(core);
      return {
        writes: rds.flatMap((rd) => rd.snapshotChunks.map((c) => c.offset)),
        resp: ofType(rds.flatMap((rd) => rd.messagesAfterPersist), 'snapshot-resp').map((r) => [r.snapshotIndex, r.nextOffset, r.installed]),
        installed: rds.some((rd) => rd.snapshot !== null),
      };
    };
    expect(answer(chunk(10, 10))).toEqual({ writes: [], resp: [[9, 0, false]], installed: false }); // must start at 0
    expect(answer(chunk(0, 10))).toEqual({ writes: [0], resp: [[9, 10, false]], installed: false });
    expect(answer(chunk(0, 10))).toEqual({ writes: [], resp: [[9, 10, false]], installed: false }); // duplicate
    expect(answer(chunk(20, 5))).toEqual({ writes: [], resp: [[9, 10, false]], installed: false }); // gap
    expect(answer(chunk(10, 10))).toEqual({ writes: [10], resp: [[9, 20, false]], installed: false });
    expect(answer(chunk(20, 5))).toEqual({ writes: [20], resp: [[9, 25, true]], installed: true });
    expect([core.log.snapshot.index, core.log.commit]).toEqual([9, 9]);
  });

  it('a follower that already has the snapshot’s entries committed answers "installed" at once', () => {
    const net = new Network({ ids: V3, config: { snapshotChunkSize: 10 } });
    net.elect('n1');
    net.propose('n1', 'a');
    net.stabilize();
    const meta = net.compact('n1', undefined, 35);
    net.inject({ type: 'snapshot', from: 'n1', to: 'n2', term: net.core('n1').term, meta, offset: 0, data: new Uint8Array(10), length: 10, done: false });
    const resp = ofType(net.flush(), 'snapshot-resp');
    expect(resp).toEqual([
      { type: 'snapshot-resp', from: 'n2', to: 'n1', term: net.core('n1').term, snapshotIndex: net.core('n2').log.commit, nextOffset: 35, installed: true },
    ]);
    expect(net.node('n2').installedSnapshots).toEqual([]);
  });
});

describe('flow control and bounds', () => {
  it('proposals are refused with proposal_dropped while maxUncommittedEntries are uncommitted', () => {
    const net = new Network({ ids: V3, config: { maxUncommittedEntries: 3 } });
    net.elect('n1');
    for (const d of ['a', 'b', 'c']) net.propose('n1', d);
    net.flush();
    const held = net.take(); // the appends are "in flight"
    expect(raftError(() => net.propose('n1', 'd')).code).toBe('proposal_dropped');
    expect(net.core('n1').log.lastIndex()).toBe(4);
    net.deliver(held);
    net.stabilize();
    expect(net.core('n1').log.commit).toBe(4);
    expect(net.propose('n1', 'd').index).toBe(5);
  });

  it('reads fail with -1 at once beyond maxPendingReads', () => {
    const net = new Network({ ids: V3, config: { maxPendingReads: 2 } });
    net.elect('n1');
    const leader = net.core('n1');
    leader.readIndex(1);
    leader.readIndex(2);
    leader.readIndex(3);
    net.flush();
    expect(net.node('n1').readStates).toEqual([{ requestId: 3, index: -1 }]);
    net.stabilize();
    const commit = leader.log.commit;
    expect(net.node('n1').readStates).toEqual([
      { requestId: 3, index: -1 },
      { requestId: 1, index: commit },
      { requestId: 2, index: commit },
    ]);
    leader.readIndex(4); // room again
    net.stabilize();
    expect(net.node('n1').readStates.at(-1)).toEqual({ requestId: 4, index: commit });
  });

  it('an append carries at most maxAppendBytes of payload (but always one entry)', () => {
    const net = new Network({ ids: V3, config: { maxAppendBytes: 10 } });
    net.elect('n1');
    for (let i = 0; i < 6; i++) net.propose('n1', `ab${i}`); // 3 bytes each: 3 fit in an append
    net.propose('n1', 'a-much-longer-entry');
    net.stabilize();
    const appends = ofType(net.delivered, 'append').filter((m) => m.entries.length > 0);
    for (const m of appends) {
      const size = m.entries.reduce((n, e) => n + e.data.length, 0);
      expect(size <= 10 || m.entries.length === 1).toBe(true);
    }
    expect(appends.some((m) => m.entries.length === 3)).toBe(true);
    expect(appends.some((m) => m.entries.length === 1 && text(m.entries[0]) === 'a-much-longer-entry')).toBe(true);
    for (const id of V3) expect(net.node(id).appliedIndex).toBe(8);
  });

  it('at most maxInflight appends are unacknowledged per follower', () => {
    const net = new Network({ ids: V3, config: { maxInflight: 2 } });
    net.elect('n1');
    net.drop('n2', 'n1'); // n2's acknowledgements are lost
    const before = net.sent.length;
    for (let i = 0; i < 5; i++) {
      net.propose('n1', `v${i}`);
      net.stabilize();
    }
    const toN2 = ofType(net.sent.slice(before), 'append').filter((m) => m.to === 'n2' && m.entries.length > 0);
    expect(toN2).toHaveLength(2);
    net.heal();
    net.tick(3);
    expect(net.core('n2').log.lastIndex()).toBe(6);
    expect(net.core('n1').status().progress.find((p) => p.id === 'n2')?.match).toBe(6);
  });
});

describe('Ready contract', () => {
  it('a Ready may be taken while an earlier one is in flight; each hands out only what is new', () => {
    const core = newCore('n1', ['n1']);
    makeLeader(core);
    const first = core.propose(new TextEncoder().encode('a')).index;
    const rd1 = core.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([first]);
    expect(core.hasReady()).toBe(false); // nothing new while rd1's write is in flight
    const second = core.propose(new TextEncoder().encode('b')).index;
    const rd2 = core.ready();
    expect(rd2.entries.map((e) => e.index)).toEqual([second]);
    expect(rd2.committed).toEqual([]); // the lone voter counts only what it has synced
    expect(core.log.commit).toBeLessThan(first);

    core.advance(rd1);
    expect(core.log.stable).toBe(first);
    expect(core.log.commit).toBe(first);
    core.advance(rd2);
    expect(core.log.commit).toBe(second);
    expect(core.ready().committed.map((e) => e.index)).toEqual([first, second]);
  });

  it('log.applying counts what was handed out for apply, before the state machine has applied it', () => {
    const core = newCore('n1', ['n1']);
    tickUntilCampaign(core);
    drain(core);
    expect(core.role).toBe('leader');
    core.propose(new TextEncoder().encode('x'));
    const rd = core.ready();
    expect(rd.committed).toEqual([]); // not durable on the only voter yet
    core.advance(rd);
    const rd2 = core.ready();
    expect(rd2.committed.map((e) => e.index)).toEqual([2]);
    expect(core.log.applying).toBe(2); // already, although advance() has not been called
    core.advance(rd2);
  });

  it('a follower answers an append only after persisting it', () => {
    const core = newCore('n2', V3);
    core.step({ type: 'append', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term: 1, type: EntryType.Noop, data: new Uint8Array(0) }], commit: 0 });
    const rd = core.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist).toEqual([appendResp('n2', 'n1', 1, 1)]);
  });

  it('a lone leader of a single-node cluster commits and applies by itself', () => {
    const core = newCore('n1', ['n1']);
    makeLeader(core);
    const { index } = core.propose(new TextEncoder().encode('solo'));
    const applied = drain(core).flatMap((rd) => rd.committed.map((e) => e.index));
    expect(applied).toEqual([index]);
    expect(core.log.commit).toBe(index);
  });
});

describe('appends lost while the leader is idle', () => {
  it('a follower that missed appends while down catches up after restarting, even if the leader gets no new proposal', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(2);
    net.crash('n3');
    const { index } = net.propose('n1', 'x');
    net.stabilize();
    expect(net.core('n1').log.commit).toBe(index);
    net.restart('n3');
    net.tick(50);
    // Actual: n3 stays at index 1 forever. The leader keeps n3 in replicate state with next = index + 1,
    // and on a heartbeat answer sendAppend() returns early because next > lastIndex (no empty probe is
    // sent, unlike etcd's sendIfEmpty), so the gap is never discovered until another entry is proposed.
    expect(net.core('n3').log.lastIndex()).toBe(index);
    expect(net.node('n3').appliedIndex).toBe(index);
  });

  it('a leader whose uncommitted window filled up while its appends were lost becomes writable again after the partition heals', () => {
    const net = new Network({ ids: V3, config: { maxUncommittedEntries: 2 } });
    net.elect('n1');
    net.tick(2);
    net.isolate('n1');
    net.propose('n1', 'a');
    net.propose('n1', 'b');
    net.stabilize();
    net.heal();
    net.tick(50);
    // Actual: commit stays below the last index and every proposal is refused with proposal_dropped,
    // forever: the lost appends are never resent (same cause as above) and no new entry can trigger a
    // reject, so the cluster never accepts another write while n1 keeps its quorum and its leadership.
    expect(net.core('n1').role).toBe('leader');
    expect(net.core('n1').log.commit).toBe(net.core('n1').log.lastIndex());
    expect(() => net.propose('n1', 'c')).not.toThrow();
  });

  it('a learner added while it is unreachable catches up once it is reachable, without new proposals', () => {
    const net = new Network({ ids: V3, config: { autoPromote: false } });
    net.elect('n1');
    net.addNode('n4');
    net.isolate('n4'); // e.g. the new node's process is not started yet
    const { index } = net.core('n1').proposeConfChange({ type: 'addLearner', id: 'n4' });
    net.stabilize();
    net.heal();
    net.tick(50);
    // Actual: n4 stays empty. Its progress starts at next = lastIndex + 1 (just past the conf entry);
    // the first, forced probe is lost, and later heartbeat answers only clear probeSent: sendAppend()
    // returns early because next > lastIndex, so the leader never probes again (same cause as above).
    expect(net.core('n4').log.lastIndex()).toBe(index);
  });

  it('a leadership transfer to a follower whose appends were lost completes', () => {
    const net = new Network({ ids: V3 });
    net.elect('n1');
    net.tick(2);
    net.cut('n1', 'n3');
    net.propose('n1', 'a');
    net.stabilize();
    net.heal();
    net.core('n1').transferLeadership('n3');
    net.tick(30, ['n1']);
    // Actual: n1 never sends n3 the missing entry (same cause), so it never sends TimeoutNow; the
    // transfer is abandoned after an election timeout and n1 remains leader.
    expect(net.leader()).toBe('n3');
  });
});
