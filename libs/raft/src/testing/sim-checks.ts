import { Entry, NodeId, Ready } from '../core';
import { checkLinearizability, Operation } from './linearizability';
import { KvInput, kvModel, KvOutput } from './kv-model';
import type { SimNode, StateMachineSnapshot } from './sim-node';
import type { SimWorld } from './sim-world';

/**
 * The checks of the simulation. Raft's safety properties (election safety, log matching, leader
 * completeness, state machine safety), that a leader commits only what a quorum has on disk, and
 * that replicas agree at snapshot points are checked as the run goes, from what the nodes hand out;
 * liveness and linearizability once at the end. A failed check records a violation in the world,
 * which stops the run.
 */
export class InvariantChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entryAt = new Map<string, { entry: Entry; prevTerm: number }>();
  private readonly committed = new Map<number, Entry>();
  /** The term in which each committed entry was first seen committed (an upper bound of its commit term). */
  private readonly committedInTerm = new Map<number, number>();
  /** Key-value state of the first replica that reached each snapshot index. */
  private readonly stateAt = new Map<number, string>();

  constructor(private readonly world: SimWorld) {}

  /** After each event on a live node. */
  checkNode(node: SimNode): void {
    const core = node.core!;
    if (core.role === 'leader') {
      const prev = this.leaderOfTerm.get(core.term);
      if (prev === undefined) {
        this.leaderOfTerm.set(core.term, node.id);
        this.checkLeaderCompleteness(node);
      } else if (prev !== node.id) {
        this.world.violation(`election safety: ${prev} and ${node.id} both leader in term ${core.term}`);
      }
    }
    const log = core.log;
    if (log.commit > log.lastIndex()) this.world.violation(`${node.id} commit ${log.commit} beyond last index ${log.lastIndex()}`);
    // Whatever any node considers committed must be the same entry everywhere, forever.
    for (let i = Math.max(node.checkedCommit, log.snapshot.index) + 1; i <= log.commit; i++) this.recordCommitted(node, log.entry(i)!);
    node.checkedCommit = log.commit;
    if (core.role === 'leader' && log.commit > node.leaderCheckedCommit) {
      node.leaderCheckedCommit = log.commit;
      this.checkCommitDurable(node);
    }
  }

  /**
   * A leader commits an entry of its term once a quorum of voters has it on disk: counting its own
   * entries before they are synced, or acknowledgements sent before they are, breaks this at once,
   * where the lost entry only shows when crashes and elections line up to overwrite it.
   */
  private checkCommitDurable(node: SimNode): void {
    const core = node.core!;
    const index = core.log.commit;
    const term = core.log.term(index);
    if (term !== core.term) return; // entries of earlier terms commit only by one of this term
    const voters = core.conf.voters;
    const durable = voters.filter((id) => this.world.nodes.get(id)?.disk.holds(index, term) ?? false).length;
    if (durable <= voters.length / 2) {
      this.world.violation(`${node.id} (leader, term ${term}) committed ${index} while it is on the disk of only ${durable} of ${voters.length} voters`);
    }
  }

  private checkLeaderCompleteness(node: SimNode): void {
    const log = node.core!.log;
    const term = node.core!.term;
    for (const [index, entry] of this.committed) {
      // Leader completeness binds leaders of later terms only: a candidate that was paused can still
      // win an older term after a newer leader committed more, and is deposed at its first append.
      if (index <= log.snapshot.index || this.committedInTerm.get(index)! >= term) continue;
      if (log.entry(index) !== entry) {
        this.world.violation(`leader completeness: leader ${node.id} (term ${node.core!.term}) lacks committed entry ${index}/${entry.term}`);
        return;
      }
    }
  }

  /** On each Ready a node begins: the entries it is to write and those it hands out for apply. */
  checkReady(node: SimNode, rd: Ready): void {
    const log = node.core!.log;
    for (const e of rd.entries) {
      const key = `${e.index}:${e.term}`;
      const prevTerm = log.term(e.index - 1);
      const seen = this.entryAt.get(key);
      if (seen === undefined) {
        this.entryAt.set(key, { entry: e, prevTerm });
      } else if (seen.entry !== e) {
        this.world.violation(`log matching: two different entries at index ${e.index} term ${e.term} (${node.id})`);
      } else if (seen.prevTerm !== prevTerm && prevTerm !== -1) {
        this.world.violation(`log matching: entry ${key} follows term ${prevTerm} on ${node.id} but term ${seen.prevTerm} elsewhere`);
      }
    }
    for (const e of rd.committed) {
      this.recordCommitted(node, e);
      if (e.index > node.core!.log.commit) this.world.violation(`${node.id} applies ${e.index} beyond its commit ${node.core!.log.commit}`);
    }
  }

  private recordCommitted(node: SimNode, e: Entry): void {
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, e);
      this.committedInTerm.set(e.index, node.core!.term);
    } else if (c !== e) {
      this.world.violation(`state machine safety: ${node.id} has ${e.index}/${e.term} committed, another node committed ${c.index}/${c.term}`);
    }
  }

  /** Every node snapshots at the same indexes, where its state must equal that of every other replica. */
  compareState(node: SimNode, index: number, snap: StateMachineSnapshot): void {
    const state = JSON.stringify(snap.kv);
    const seen = this.stateAt.get(index);
    if (seen === undefined) this.stateAt.set(index, state);
    else if (seen !== state) this.world.violation(`replica divergence: ${node.id} state at index ${index} differs from another replica's`);
  }

  /**
   * At the end of the heal period: a leader, a write that succeeded after healing, and a history of
   * client operations that is linearizable. Also counts the operations whose outcome stayed unknown.
   */
  finalChecks(history: Operation<KvInput, KvOutput>[], lastWriteOkAt: number): void {
    const world = this.world;
    const healAt = world.opts.faultMs;
    const leader = world.leader();
    if (leader === undefined) world.violation('liveness: no leader at the end of the heal period');
    if (lastWriteOkAt < healAt) world.violation(`liveness: no write succeeded within ${world.opts.healMs}ms of healing`);
    for (const op of history) if (op.ret === Infinity) world.stats.unknown++;
    world.stats.finalCommit = leader?.core?.log.commit ?? 0;
    const res = checkLinearizability(kvModel, history, { timeoutMs: 20_000 });
    if (res.verdict === 'illegal') world.violation(`linearizability: ${res.details ?? ''}`);
    else if (res.verdict === 'timeout') world.violation('linearizability: checker timed out');
  }
}
