import { NodeId, RaftError } from '../core';
import { Operation } from './linearizability';
import { KvInput, KvOutput } from './kv-model';
import type { NodeDriver } from './sim-driver';
import type { Reply, SimNode } from './sim-node';
import type { Command } from './sim-state-machine';
import type { SimWorld } from './sim-world';

/** How long a client waits for an answer before it tries another node. */
const CLIENT_TIMEOUT_MS = 300;

function describe(input: KvInput): string {
  return input.kind === 'get' ? `get ${input.key}` : `${input.kind} ${input.key} ${input.value}`;
}

/**
 * The clients: each one, in a loop, reads, appends to or puts one of three keys through some node,
 * retrying on other nodes until it gets an answer, and records every operation (call, return,
 * output) in the history the linearizability checker reads. An operation that never got an answer
 * stays open (`ret` Infinity): it may or may not have taken effect.
 */
export class ClientWorkload {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  /** When a write last succeeded (the liveness check wants one after healing). */
  lastWriteOkAt = -1;
  /**
   * Set by the stale-leader fault until `until`: the clients in `readers` only read, and only through
   * `node` (a leader cut off from its peers); the others keep away from it, so that they write
   * through the majority's new leader meanwhile.
   */
  steer: { node: NodeId; readers: Set<number>; until: number } | null = null;

  constructor(
    private readonly world: SimWorld,
    private readonly driver: NodeDriver,
  ) {}

  startClient(c: number): void {
    const world = this.world;
    const rng = world.rng.fork();
    const client = `c${c}`;
    let seq = 0;
    let target: NodeId = rng.pick([...world.nodes.keys()]);
    const next = (): void => {
      // No operation is started that could not finish before the run ends.
      if (world.now >= world.opts.faultMs + world.opts.healMs - CLIENT_TIMEOUT_MS) return;
      const key = `k${rng.int(0, 2)}`;
      // Clients do not all stick to one node: a deposed leader and the new one both get traffic.
      if (rng.chance(0.3)) target = rng.pick([...world.nodes.keys()]);
      const r = rng.next();
      const reader = this.steered(c) === 'reader';
      const input: KvInput = r < 0.5 || reader ? { kind: 'get', key } : r < 0.8 ? { kind: 'append', key, value: `${c}.${seq + 1};` } : { kind: 'put', key, value: `${c}.${seq + 1};` };
      const op: Operation<KvInput, KvOutput> = { clientId: c, input, output: undefined, call: world.now, ret: Infinity };
      this.history.push(op);
      world.stats.ops++;
      if (input.kind !== 'get') seq++;
      const cmd: Command = { client, seq, ackedBelow: seq, op: input };
      let done = false;
      let attempt = 0;
      const tryOnce = (): void => {
        if (done) return;
        const myAttempt = ++attempt;
        target = this.steerTarget(c, target);
        const node = world.nodes.get(target)!;
        const answer = (reply: Reply): void => {
          world.at(world.now + rng.int(1, 3), () => {
            // A late failure of an abandoned attempt is ignored; a late success still counts.
            if (done || (myAttempt !== attempt && !reply.ok)) return;
            if (reply.ok) {
              done = true;
              op.ret = world.now;
              op.output = { value: reply.value };
              if (input.kind === 'get') world.stats.okReads++;
              else {
                world.stats.okWrites++;
                this.lastWriteOkAt = world.now;
              }
              world.trace(`client ${c} ok ${describe(input)} -> ${JSON.stringify(op.output.value)} via ${node.id}`);
              world.at(world.now + rng.int(1, 20), next);
            } else {
              // A follower's hint can name a leader that is already gone: sometimes try elsewhere.
              const hint = reply.leaderHint;
              target = hint !== null && world.nodes.has(hint) && rng.chance(0.7) ? hint : rng.pick([...world.nodes.keys()]);
              world.at(world.now + rng.int(5, 20), tryOnce);
            }
          });
        };
        world.at(world.now + rng.int(1, 3), () => this.driver.whenRunning(node, () => this.request(node, input, cmd, answer)));
        world.at(world.now + CLIENT_TIMEOUT_MS, () => {
          if (done || myAttempt !== attempt) return;
          target = rng.pick([...world.nodes.keys()]);
          tryOnce();
        });
      };
      tryOnce();
    };
    world.at(rng.int(0, 50), next);
  }

  /** How the stale-leader fault steers client `c` now, if it does. */
  private steered(c: number): 'reader' | 'away' | null {
    const steer = this.steer;
    if (steer === null || this.world.now >= steer.until) return null;
    return steer.readers.has(c) ? 'reader' : 'away';
  }

  /** The node client `c` tries next: its own choice, unless the stale-leader fault steers it (no draw either way). */
  private steerTarget(c: number, target: NodeId): NodeId {
    const how = this.steered(c);
    if (how === 'reader') return this.steer!.node;
    if (how === 'away' && target === this.steer!.node) {
      const others = [...this.world.nodes.keys()].filter((id) => id !== target);
      return others[c % others.length];
    }
    return target;
  }

  /** A request reaches `node`: a read goes through the read index, a write is proposed. */
  private request(node: SimNode, input: KvInput, cmd: Command, answer: (r: Reply) => void): void {
    const core = node.core;
    if (core === null) return; // a dead node never answers
    if (input.kind === 'get') {
      const steer = this.steer;
      if (steer !== null && steer.node === node.id && this.world.now < steer.until) {
        const faults = this.world.stats.faults;
        faults.staleLeaderReads = (faults.staleLeaderReads ?? 0) + 1;
        // The window the fault aims at: a newer leader exists while this one still believes it leads.
        const newest = this.world.leader();
        if (core.role === 'leader' && newest !== undefined && newest !== node) faults.staleLeaderReadsInOverlap = (faults.staleLeaderReadsInOverlap ?? 0) + 1;
      }
      const requestId = node.nextReadId++;
      node.pendingReads.set(requestId, { key: input.key, reply: answer });
      core.readIndex(requestId);
      this.driver.afterEvent(node);
      return;
    }
    try {
      const pos = core.propose(node.machine!.encode(cmd));
      // A proposal at the same index made in an earlier term lost its place: its client hears so.
      node.pendingWrites.get(pos.index)?.reply({ ok: false, leaderHint: null });
      node.pendingWrites.set(pos.index, { term: pos.term, reply: answer });
      this.driver.afterEvent(node);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      answer({ ok: false, leaderHint: core.leaderId });
    }
  }
}
