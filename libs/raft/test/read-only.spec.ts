import { ReadOnlyRequests } from '../src/core/read-only';

const VOTERS = ['n1', 'n2', 'n3'];

describe('ReadOnlyRequests', () => {
  it('releases a read once a quorum acknowledged a round begun after it was held, oldest first', () => {
    const reads = new ReadOnlyRequests('n1', 10);
    reads.hold({ from: 'n1', requestId: 1 }, 5);
    expect(reads.wantsRound).toBe(true);
    expect(reads.beginWantedRound()).toBe(true);
    expect(reads.beginWantedRound()).toBe(false); // one round covers every read held so far
    reads.hold({ from: 'n2', requestId: 2 }, 6); // after round 1 began: needs round 2
    expect(reads.release(VOTERS)).toEqual([]);
    expect(reads.recordAck('n3', 1)).toBe(true);
    expect(reads.recordAck('n3', 1)).toBe(false); // nothing new
    expect(reads.release(VOTERS)).toEqual([{ from: 'n1', requestId: 1, index: 5, round: 1 }]);
    reads.beginWantedRound();
    reads.recordAck('n2', 2);
    expect(reads.release(VOTERS)).toEqual([{ from: 'n2', requestId: 2, index: 6, round: 2 }]);
  });

  it('holds reads asked before the commit in the leader’s term until it is known, then at that commit', () => {
    const reads = new ReadOnlyRequests('n1', 10);
    reads.awaitCommit({ from: 'n2', requestId: 1 });
    expect(reads.wantsRound).toBe(false);
    reads.admitAwaitingCommit(4);
    expect(reads.wantsRound).toBe(true);
    reads.beginWantedRound();
    reads.recordAck('n2', 1);
    expect(reads.release(VOTERS)).toEqual([{ from: 'n2', requestId: 1, index: 4, round: 1 }]);
  });

  it('forgets the acknowledgements of a peer no longer tracked', () => {
    const reads = new ReadOnlyRequests('n1', 10);
    reads.recordAck('n2', 3);
    reads.forgetPeer('n2');
    expect(reads.recordAck('n2', 1)).toBe(true);
    reads.forgetAllPeers();
    expect(reads.recordAck('n2', 1)).toBe(true);
  });

  it('is full at its bound, reads awaiting the commit included; drain gives back every read, held ones first', () => {
    const reads = new ReadOnlyRequests('n1', 2);
    reads.awaitCommit({ from: 'n3', requestId: 1 });
    reads.hold({ from: 'n1', requestId: 2 }, 1);
    expect(reads.isFull).toBe(true);
    expect(reads.drain().map((r) => r.requestId)).toEqual([2, 1]);
    expect(reads.isFull).toBe(false);
    expect(reads.wantsRound).toBe(false);
  });
});
