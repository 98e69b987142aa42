/**
 * The verdicts of a chaos run, computed after every fault is healed and the cluster has converged.
 * Each verdict has a name, ok or not, and the evidence; none is decided by anything but what the
 * nodes answered and what the clients recorded.
 */
import { checkLinearizability } from '@raft-cqrs/raft/testing';
import { call, json, sleep } from './http';
import type { Op } from './history';
import type { Nodes, NodeProc } from './nodes';
import { productModel, toCheckerHistory } from './order-model';
import type { StreamRecord } from './workload';

export interface Verdict {
  name: string;
  ok: boolean;
  /** One line of figures. */
  summary: string;
  /** Evidence of a failure (bounded). */
  problems: string[];
}

interface StatusBody {
  memberId: string;
  isLeader: boolean;
  leaderId: string | null;
  term: number;
  commitIndex: number;
  lastApplied: number;
  stateDigest?: { mismatches: number; latest: { index: number; digest: string } | null; lastMismatch: unknown } | null;
  members: { id: string; voter: boolean }[];
}

interface OrderBody {
  orderId: string;
  productId: string;
  quantity: number;
  status: string;
}

interface ProductBody {
  id: string;
  stock: number;
  reserved: number;
}

interface MessageBody {
  msg_id: string;
  commit_index: number;
}

const MAX_PROBLEMS = 30;

function verdict(name: string, problems: string[], summary: string): Verdict {
  return { name, ok: problems.length === 0, summary, problems: problems.slice(0, MAX_PROBLEMS).concat(problems.length > MAX_PROBLEMS ? [`... and ${problems.length - MAX_PROBLEMS} more`] : []) };
}

export async function status(url: string, timeoutMs = 1500): Promise<StatusBody | null> {
  const a = await call(`${url}/cluster/status`, { timeoutMs });
  return a.status === 200 ? json<StatusBody>(a) : null;
}

/**
 * Waits (bounded) until every node of the app answers, agrees on one leader, and has applied all it
 * has committed, at the same commit index on every node.
 */
export async function waitConverged(urls: string[], timeoutMs: number): Promise<{ ok: boolean; statuses: (StatusBody | null)[]; ms: number }> {
  const started = Date.now();
  let statuses: (StatusBody | null)[] = [];
  while (Date.now() - started < timeoutMs) {
    statuses = await Promise.all(urls.map((u) => status(u)));
    const all = statuses.filter((s): s is StatusBody => s !== null);
    if (all.length === urls.length) {
      const leaders = all.filter((s) => s.isLeader);
      const commit = all[0].commitIndex;
      if (leaders.length === 1 && all.every((s) => s.leaderId === leaders[0].memberId && s.commitIndex === commit && s.lastApplied === commit)) {
        return { ok: true, statuses, ms: Date.now() - started };
      }
    }
    await sleep(200);
  }
  return { ok: false, statuses, ms: Date.now() - started };
}

export function checkLinearizable(ops: readonly Op[], budgetMs: number): Verdict {
  const history = toCheckerHistory(ops);
  const parts = productModel.partition!(history);
  const problems: string[] = [];
  let timeouts = 0;
  let longest = 0;
  let unknown = 0;
  const started = Date.now();
  const perPart = Math.max(2000, Math.floor(budgetMs / Math.max(1, parts.length)) * 4);
  for (const part of parts) {
    longest = Math.max(longest, part.length);
    unknown += part.filter((o) => o.ret === Infinity).length;
    const left = budgetMs - (Date.now() - started);
    const r = checkLinearizability(productModel, part, { timeoutMs: Math.max(500, Math.min(perPart, left)) });
    if (r.verdict === 'illegal') problems.push(`product ${part[0].input.product} is NOT linearizable:\n${r.details}`);
    else if (r.verdict === 'timeout') {
      timeouts++;
      problems.push(`product ${part[0].input.product}: undecided (${r.details})`);
    }
  }
  return verdict(
    'stock histories linearizable',
    problems,
    `${parts.length} products, ${history.length} operations judged (${unknown} with unknown outcome), longest history ${longest}, ${timeouts} undecided, ${Date.now() - started} ms`,
  );
}

/** Every acknowledged order on every node, with its quantity; acknowledged cancels cancelled; nothing oversold. */
export async function checkOrders(ops: readonly Op[], nodes: NodeProc[], urlOf: (n: NodeProc) => string): Promise<{ lost: Verdict; oversold: Verdict; equal: Verdict }> {
  const lostProblems: string[] = [];
  const overProblems: string[] = [];
  const equalProblems: string[] = [];
  const acked = ops.filter((o) => o.kind === 'order' && o.outcome === 'ok' && o.orderId !== undefined);
  const cancelled = new Set(ops.filter((o) => o.kind === 'cancel' && o.outcome === 'ok').map((o) => o.orderId as string));
  const snapshots: { node: string; products: string; orders: string }[] = [];
  let productCount = 0;
  for (const n of nodes) {
    const url = urlOf(n);
    const po = await call(`${url}/products`, { timeoutMs: 10_000 });
    const oo = await call(`${url}/orders`, { timeoutMs: 10_000 });
    const products = json<{ products: ProductBody[] }>(po)?.products;
    const orders = json<{ orders: OrderBody[] }>(oo)?.orders;
    if (po.status !== 200 || oo.status !== 200 || products === undefined || orders === undefined) {
      lostProblems.push(`${n.id}: GET /products ${po.status || po.error}, GET /orders ${oo.status || oo.error}`);
      continue;
    }
    productCount = products.length;
    snapshots.push({ node: n.id, products: JSON.stringify(products), orders: JSON.stringify(orders) });
    const byId = new Map(orders.map((o) => [o.orderId, o]));
    for (const op of acked) {
      const o = byId.get(op.orderId as string);
      if (o === undefined) lostProblems.push(`${n.id}: acknowledged order ${op.orderId} (${op.product} x${op.value}, op #${op.id}) is missing`);
      else if (o.quantity !== op.value || o.productId !== op.product) lostProblems.push(`${n.id}: order ${op.orderId} is ${o.productId} x${o.quantity}, acknowledged as ${op.product} x${op.value}`);
      else if (cancelled.has(o.orderId) && o.status !== 'Cancelled') lostProblems.push(`${n.id}: order ${o.orderId} was cancelled (acknowledged) but is ${o.status}`);
    }
    const live = new Map<string, number>();
    for (const o of orders) if (o.status === 'Created') live.set(o.productId, (live.get(o.productId) ?? 0) + o.quantity);
    for (const p of products) {
      if (p.stock < 0) overProblems.push(`${n.id}: ${p.id} has stock ${p.stock}`);
      if (p.reserved !== (live.get(p.id) ?? 0)) overProblems.push(`${n.id}: ${p.id} reserved ${p.reserved} but its live orders hold ${live.get(p.id) ?? 0}`);
    }
  }
  for (const s of snapshots.slice(1)) {
    if (s.products !== snapshots[0].products) equalProblems.push(`${s.node}'s products differ from ${snapshots[0].node}'s`);
    if (s.orders !== snapshots[0].orders) equalProblems.push(`${s.node}'s orders differ from ${snapshots[0].node}'s`);
  }
  return {
    lost: verdict('no acknowledged order lost', lostProblems, `${acked.length} acknowledged orders and ${cancelled.size} acknowledged cancels checked on ${snapshots.length} nodes`),
    oversold: verdict('never oversold', overProblems, `${productCount} products on ${snapshots.length} nodes: stock >= 0 and reserved = units of live orders`),
    equal: verdict('order replicas hold the same products and orders', equalProblems, `${snapshots.length} nodes compared (GET /products, GET /orders)`),
  };
}

/** Replica state digests: no mismatch ever recorded, and equal latest digests at equal indexes. */
export function checkDigests(app: string, statuses: (StatusBody | null)[]): Verdict {
  const problems: string[] = [];
  const seen: string[] = [];
  const byIndex = new Map<number, Set<string>>();
  for (const s of statuses) {
    if (s === null) {
      problems.push('a node did not answer /cluster/status');
      continue;
    }
    const d = s.stateDigest;
    if (d === null || d === undefined) {
      problems.push(`${s.memberId}: no stateDigest in /cluster/status`);
      continue;
    }
    if (d.mismatches !== 0) problems.push(`${s.memberId}: ${d.mismatches} digest mismatches (REPLICA DIVERGED), last ${JSON.stringify(d.lastMismatch)}`);
    if (d.latest !== null) {
      seen.push(`${s.memberId}@${d.latest.index}=${d.latest.digest.slice(0, 12)}`);
      const set = byIndex.get(d.latest.index) ?? new Set<string>();
      set.add(d.latest.digest);
      byIndex.set(d.latest.index, set);
    } else seen.push(`${s.memberId}: none yet`);
  }
  for (const [index, set] of byIndex) if (set.size > 1) problems.push(`different digests at index ${index}: ${[...set].join(' vs ')}`);
  return verdict(`${app} state digests equal`, problems, seen.join(', '));
}

/** Every chat node holds the same messages in the same order; every acknowledged one is there. */
export async function checkChat(ops: readonly Op[], nodes: NodeProc[], urlOf: (n: NodeProc) => string): Promise<{ logs: Verdict; log: MessageBody[] }> {
  const problems: string[] = [];
  const logs: { node: string; messages: MessageBody[] }[] = [];
  for (const n of nodes) {
    const messages: MessageBody[] = [];
    let from = 0;
    for (let page = 0; page < 10_000; page++) {
      const a = await call(`${urlOf(n)}/api/v1/messages?from=${from}&limit=1000`, { timeoutMs: 10_000 });
      const body = json<{ messages: MessageBody[] }>(a);
      if (a.status !== 200 || body === null || !Array.isArray(body.messages)) {
        problems.push(`${n.id}: GET /api/v1/messages answered ${a.status || a.error}`);
        break;
      }
      messages.push(...body.messages.map((m) => ({ msg_id: m.msg_id, commit_index: m.commit_index })));
      if (body.messages.length < 1000) break;
      from = body.messages[body.messages.length - 1].commit_index + 1;
    }
    logs.push({ node: n.id, messages });
  }
  const ref = logs[0]?.messages ?? [];
  for (const l of logs.slice(1)) {
    if (JSON.stringify(l.messages) !== JSON.stringify(ref)) {
      const i = l.messages.findIndex((m, k) => ref[k] === undefined || ref[k].msg_id !== m.msg_id || ref[k].commit_index !== m.commit_index);
      problems.push(`${l.node}'s messages differ from ${logs[0].node}'s (${l.messages.length} vs ${ref.length}; first difference at position ${i})`);
    }
  }
  const ids = new Set<string>();
  for (const m of ref) {
    if (ids.has(m.msg_id)) problems.push(`msg_id ${m.msg_id} stored twice`);
    ids.add(m.msg_id);
  }
  const at = new Map(ref.map((m) => [m.msg_id, m.commit_index]));
  const acked = ops.filter((o) => o.kind === 'chat-post' && o.outcome === 'ok');
  for (const op of acked) {
    const idx = at.get(op.msgId as string);
    if (idx === undefined) problems.push(`acknowledged message ${op.msgId} (op #${op.id}) is missing`);
    else if (op.commitIndex !== undefined && idx !== op.commitIndex) problems.push(`message ${op.msgId} acknowledged at commit_index ${op.commitIndex} but stored at ${idx}`);
  }
  return {
    logs: verdict('chat: same messages in the same order on every node, every acknowledged one present', problems, `${logs.length} nodes, ${ref.length} messages, ${acked.length} acknowledged posts`),
    log: ref,
  };
}

/** Every stream reader got exactly the log's messages in order: no gap, no duplicate, no reordering. */
export function checkStreams(streams: readonly StreamRecord[], log: MessageBody[]): Verdict {
  const problems: string[] = [];
  let events = 0;
  for (const s of streams) {
    events += s.events.length;
    problems.push(...s.problems.map((p) => `stream on host ${s.host}: ${p}`));
    for (let k = 0; k < s.events.length; k++) {
      const e = s.events[k];
      const m = log[k];
      if (m === undefined || m.msg_id !== e.msgId || m.commit_index !== e.commitIndex) {
        problems.push(`stream on host ${s.host}: event ${k} is ${e.msgId}@${e.commitIndex}, the log has ${m === undefined ? 'nothing' : `${m.msg_id}@${m.commit_index}`} there`);
        break;
      }
    }
    if (s.events.length < log.length) problems.push(`stream on host ${s.host} got ${s.events.length} of ${log.length} messages`);
  }
  return verdict('chat streams: every node streamed the whole log in the same order', problems, `${streams.length} streams, ${events} events, ${streams.map((s) => s.connects).reduce((a, b) => a + b, 0)} connections`);
}

/** No node process exited unless we killed it. */
export function checkNoCrash(nodes: NodeProc[]): Verdict {
  const problems: string[] = [];
  for (const n of nodes) for (const e of n.exits) if (e.signal !== 'SIGKILL') problems.push(`${n.id} exited by itself (code ${e.code}, signal ${e.signal}) at ${new Date(e.at).toISOString()}; see logs/${n.id}.log`);
  return verdict('no node crashed on its own', problems, `${nodes.reduce((a, n) => a + n.starts, 0)} process starts, ${nodes.reduce((a, n) => a + n.exits.length, 0)} exits`);
}

export type { StatusBody, Nodes };
