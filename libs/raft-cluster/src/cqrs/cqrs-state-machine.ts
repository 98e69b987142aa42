import { HttpException } from '@nestjs/common';
import { hash } from 'node:crypto';
import type { ApplyContext, Entry, StateMachine } from '@raft-cqrs/raft';
import { ApplyContextImpl, runInApplyContext } from './apply-context';
import { replicatedCommands, replicatedEvents } from './decorators';
import { BatchEnvelope, CommandEnvelope, decodeEnvelope, DigestEnvelope, EnvelopeError, EventEnvelope } from './envelope';
import { deserializeError, SerializedError, serializeError } from './error-codec';
import { encodeForLog, RaftPayloadCodec } from './payload';
import { SetDigest } from './set-digest';
import type { ReplicatedStateStore, StoreSnapshotCursor } from './replicated-store';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DivergenceReport } from './cqrs-replication';
import { EventJournal, JournalEvent, JournalSnapshot, journalName } from '../processors/event-journal';
import { parsePosition } from '../processors/event-position';
export type { DivergenceReport } from './cqrs-replication';

/** Items a store serialises per event-loop turn while a snapshot is captured (well under a millisecond of work). */
const SNAPSHOT_SLICE_ITEMS = 250;

/** A {@link SnapshotDocument}'s text up to its first store, the key before a store's JSON, and the rest after the last store. */
const DOCUMENT_HEAD = '{"v":1,"stores":{';

function storeKey(name: string): string {
  return `${JSON.stringify(name)}:`;
}

function documentTail(sessions: string[], digests: SnapshotDocument['digests'], journal: JournalSnapshot | undefined): string {
  return `},"sessions":[${sessions.join(',')}],"digests":${JSON.stringify(digests)}${journal === undefined ? '' : `,"j":${JSON.stringify(journal)}`}}`;
}

/** What the state machine needs from its host (the bridge): the buses before they were patched, and the cluster. */
export interface CqrsApplyHost {
  /** Runs the command's handler (the original `CommandBus.execute`). */
  executeHandler(command: object): Promise<unknown>;
  /** Publishes on the local EventBus (the original `EventBus.publish`). */
  publishLocal(event: object): void;
  /** Resolves once the CQRS module has registered its handlers (log replay waits for it). */
  handlersReady(): Promise<void>;
  isLeader(): boolean;
  /** Proposes the leader's digest at `index`, with its parts (fire and forget). */
  proposeDigest(index: number, digest: string, parts: Record<string, string>): void;
  onDivergence(report: DivergenceReport): void;
  warn(message: string): void;
}

/** The name of the session table among the digest's parts. */
const SESSIONS_PART = '(sessions)';

interface StateDigest {
  d: string;
  s: Record<string, string>;
}

export interface CqrsStateMachineOptions {
  /** Request ids remembered for de-duplication; the oldest is forgotten first. */
  maxSessions: number;
  /** A digest of the state is taken after every index that is a multiple of this. */
  digestInterval: number;
  /** Fields and results through the app's codec instead of plain JSON. */
  codec?: RaftPayloadCodec | null;
  /** Where the events that apply raises are kept for the event processors; null when the app has none. */
  journal?: EventJournal | null;
}

type Outcome = { ok: true; v: unknown } | { ok: false; e: SerializedError };

interface SessionRecord {
  h: string;
  o: Outcome;
}

interface SnapshotDocument {
  v: 1;
  stores: Record<string, unknown>;
  sessions: [string, SessionRecord][];
  /** [index, digest, parts]; parts are missing in snapshots of older versions. */
  digests: [number, string, Record<string, string>?][];
  /** The event processors' journal; missing without processors (and in older snapshots). */
  j?: JournalSnapshot;
}

/** Errors of the bridge itself (not of a handler): the same on every node, so still deterministic. */
function bridgeError(status: number, error: string, message: string): HttpException {
  return new HttpException({ error, message }, status);
}

const DIGESTS_KEPT = 16;

/**
 * The replicated state machine behind `RaftClusterModule` when the app uses `@nestjs/cqrs`: each log
 * entry is an envelope (see `envelope.ts`) whose command runs through its ordinary `@CommandHandler`,
 * inside an apply context fixed by the leader. It owns the session table (request id -> first outcome,
 * Raft thesis 6.3) and the app's `@ReplicatedState` stores for snapshots and digests.
 */
export class CqrsStateMachine implements StateMachine {
  private readonly sessions = new Map<string, SessionRecord>();
  /** The session table's digest, kept up to date as records come and go (a record never changes). */
  private readonly sessionDigest = new SetDigest();
  private readonly sessionHashes = new Map<string, Buffer>();
  /** Each record as the snapshot writes it (`[r, record]` in JSON), made once when it is added. */
  private readonly sessionTexts = new Map<string, string>();
  private readonly digests = new Map<number, StateDigest>();
  private checked = { index: 0, matches: 0, mismatches: 0 };
  /** Counts restores: a snapshot being captured when the state is replaced is dropped. */
  private restores = 0;
  private ready = false;
  private readonly journal: EventJournal | null;

  constructor(
    private readonly host: CqrsApplyHost,
    private readonly stores: ReadonlyMap<string, ReplicatedStateStore>,
    private readonly opts: CqrsStateMachineOptions,
  ) {
    this.journal = opts.journal ?? null;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  digestStatus(): { lastCheckedIndex: number; matches: number; mismatches: number; latest: { index: number; digest: string } | null } {
    let latest: { index: number; digest: string } | null = null;
    for (const [index, digest] of this.digests) if (latest === null || index > latest.index) latest = { index, digest: digest.d };
    return { lastCheckedIndex: this.checked.index, matches: this.checked.matches, mismatches: this.checked.mismatches, latest };
  }

  async apply(entry: Entry, ctx: ApplyContext): Promise<unknown> {
    if (!this.ready) {
      await this.host.handlersReady();
      this.ready = true;
    }
    try {
      return await this.applyEnvelope(entry, ctx);
    } finally {
      if (ctx.index % this.opts.digestInterval === 0) this.takeDigest(ctx.index);
    }
  }

  private async applyEnvelope(entry: Entry, ctx: ApplyContext): Promise<unknown> {
    if (entry.data.length === 0) return undefined;
    let env;
    try {
      env = decodeEnvelope(entry.data);
    } catch (err) {
      // Written by something else (or a newer version): skipping it is the same on every node.
      this.host.warn(`entry ${ctx.index} skipped: ${(err as EnvelopeError).message}`);
      throw bridgeError(400, 'bad_entry', (err as Error).message);
    }
    switch (env.k) {
      case 'cmd':
        return this.applyCommand(env, ctx);
      case 'batch':
        return this.applyBatch(env, ctx);
      case 'evt':
        return this.applyEvent(env, ctx);
      case 'digest':
        return this.compareDigest(env);
      case 'ckpt':
        return this.applyCheckpoints(env.c, ctx.index);
    }
  }

  private remembered(r: string, h: string): Outcome | undefined {
    const rec = this.sessions.get(r);
    if (rec === undefined) return undefined;
    if (rec.h !== h) {
      return { ok: false, e: serializeError(bridgeError(422, 'idempotency_key_reused', `request id ${JSON.stringify(r)} was already used for a different command`)) };
    }
    return rec.o;
  }

  /** `resultText`: the outcome's value as JSON text when it is at hand (saves serialising it again). */
  private remember(r: string, h: string, o: Outcome, resultText?: string): void {
    this.forgetSession(r);
    this.addSession(r, { h, o }, resultText);
    // Every node evicts the same records at the same index: the table is part of the replicated state.
    while (this.sessions.size > this.opts.maxSessions) this.forgetSession(this.sessions.keys().next().value!);
  }

  private addSession(r: string, rec: SessionRecord, resultText?: string): void {
    this.sessions.set(r, rec);
    // The text JSON.stringify([r, rec]) would give, built from the result's text when there is one.
    const text = rec.o.ok && resultText !== undefined ? `[${JSON.stringify(r)},{"h":${JSON.stringify(rec.h)},"o":{"ok":true,"v":${resultText}}}]` : JSON.stringify([r, rec]);
    const digest = SetDigest.hash(text);
    this.sessionTexts.set(r, text);
    this.sessionHashes.set(r, digest);
    this.sessionDigest.add(digest);
  }

  private forgetSession(r: string): void {
    const hash = this.sessionHashes.get(r);
    if (hash === undefined) return;
    this.sessionDigest.remove(hash);
    this.sessionHashes.delete(r);
    this.sessionTexts.delete(r);
    this.sessions.delete(r);
  }

  private static settle(o: Outcome): unknown {
    if (o.ok) return o.v;
    throw deserializeError(o.e);
  }

  private build(kind: 'command' | 'event', name: string, payload: unknown): object {
    const cls = (kind === 'command' ? replicatedCommands : replicatedEvents).get(name);
    if (cls === undefined) throw bridgeError(400, kind === 'command' ? 'unknown_command' : 'unknown_event', `no ${kind} is registered as ${JSON.stringify(name)} on this node`);
    const obj = Object.create(cls.prototype as object) as object;
    const fields = this.opts.codec ? this.opts.codec.decode(payload) : payload;
    if (fields !== null && typeof fields === 'object') Object.assign(obj, fields);
    return obj;
  }

  /**
   * A handler's result as the log's outcome (kept in the session table, sent to a forwarding node):
   * what the log cannot carry fails the command, the same way on every node, rather than answering
   * the caller with an error while the state changed.
   */
  private encodeResult(name: string, result: unknown): { json: unknown; text: string } {
    const out = encodeForLog(this.opts.codec, result);
    if (out.bad !== null) {
      throw bridgeError(500, 'unserializable_result', `the handler of command "${name}" returned a result whose ${out.bad.said}; the command was not applied. Return plain JSON values, or set the codec option`);
    }
    return out;
  }

  private async applyCommand(env: CommandEnvelope, ctx: ApplyContext): Promise<unknown> {
    const seen = this.remembered(env.r, env.h);
    if (seen !== undefined) return CqrsStateMachine.settle(seen);
    const actx = new ApplyContextImpl(ctx.index, ctx.term, env.ts, env.r, env.s, 0, env.co ?? env.r, env.ca ?? null);
    actx.undo = [];
    if (this.journal !== null) actx.raised = [];
    let outcome: Outcome;
    let original: unknown;
    let resultText: string | undefined;
    try {
      const command = this.build('command', env.n, env.p);
      const result = await runInApplyContext(actx, () => this.host.executeHandler(command));
      const encoded = this.encodeResult(env.n, result);
      outcome = { ok: true, v: encoded.json };
      resultText = encoded.text;
    } catch (err) {
      // InMemoryStore writes are taken back; a store of the app's own keeps what the handler did.
      for (let i = actx.undo.length - 1; i >= 0; i--) actx.undo[i]();
      original = err;
      outcome = { ok: false, e: serializeError(err) };
    }
    actx.undo = null;
    if (outcome.ok && actx.raised !== null) this.keepRaised(actx, actx.raised, 0);
    this.remember(env.r, env.h, outcome, resultText);
    if (!outcome.ok) throw original;
    return outcome.v;
  }

  private async applyBatch(env: BatchEnvelope, ctx: ApplyContext): Promise<unknown> {
    const seen = this.remembered(env.r, env.h);
    if (seen !== undefined) return CqrsStateMachine.settle(seen);
    // All or nothing: the stores as they were, to put back if one command fails.
    const before = this.captureStores();
    const results: unknown[] = [];
    const raised: { actx: ApplyContextImpl; events: object[] }[] = [];
    let outcome: Outcome;
    let original: unknown;
    try {
      for (let i = 0; i < env.c.length; i++) {
        const actx = new ApplyContextImpl(ctx.index, ctx.term, env.ts, env.r, env.s, i, env.co ?? env.r, env.ca ?? null);
        if (this.journal !== null) raised.push({ actx, events: (actx.raised = []) });
        const command = this.build('command', env.c[i].n, env.c[i].p);
        const result = await runInApplyContext(actx, () => this.host.executeHandler(command));
        results.push(this.encodeResult(env.c[i].n, result).json);
      }
      outcome = { ok: true, v: results };
      let n = 0;
      for (const r of raised) n = this.keepRaised(r.actx, r.events, n);
    } catch (err) {
      this.restoreStores(before);
      original = err;
      outcome = { ok: false, e: serializeError(err) };
    }
    this.remember(env.r, env.h, outcome);
    if (!outcome.ok) throw original;
    return outcome.v;
  }

  private applyEvent(env: EventEnvelope, ctx: ApplyContext): null {
    const event = this.build('event', env.n, env.p);
    const actx = new ApplyContextImpl(ctx.index, ctx.term, env.ts, null, env.s, 0, env.co ?? null, env.ca ?? null);
    if (this.journal !== null) actx.raised = [event];
    runInApplyContext(actx, () => this.host.publishLocal(event));
    if (actx.raised !== null) this.keepRaised(actx, actx.raised, 0);
    return null;
  }

  /** Journals the events an entry's command raised (those some processor handles), numbered on from `n`; returns the next number. */
  private keepRaised(actx: ApplyContextImpl, raised: readonly object[], n: number): number {
    const journal = this.journal!;
    const kept: JournalEvent[] = [];
    for (const event of raised) {
      if (event === null || typeof event !== 'object') continue;
      const name = journalName(event.constructor as abstract new () => unknown);
      if (!journal.wants(name)) continue;
      const out = encodeForLog(this.opts.codec, { ...(event as Record<string, unknown>) });
      if (out.bad !== null) {
        // The same on every node: the event is left out of the journal everywhere, and said so.
        this.host.warn(`event ${name} raised by entry ${actx.index} is not journaled for the event processors: its ${out.bad.said}`);
        continue;
      }
      kept.push({ index: actx.index, n: n++, name, payload: out.json, timestamp: actx.timestamp, correlationId: actx.correlationId, causationId: actx.requestId });
    }
    if (kept.length > 0) journal.append(actx.index, kept);
    return n;
  }

  private applyCheckpoints(checkpoints: Record<string, string>, index: number): null {
    if (this.journal === null || checkpoints === null || typeof checkpoints !== 'object') return null;
    for (const [processor, id] of Object.entries(checkpoints)) {
      const position = parsePosition(id);
      if (position !== null) this.journal.advanceCheckpoint(processor, position, index);
    }
    return null;
  }

  private compareDigest(env: DigestEnvelope): null {
    const local = this.digests.get(env.i);
    // A node that restored a snapshot past `i` has no digest of its own there: nothing to compare.
    if (local === undefined) return null;
    this.checked.index = Math.max(this.checked.index, env.i);
    if (local.d === env.d) {
      this.checked.matches++;
    } else {
      this.checked.mismatches++;
      const names = new Set([...Object.keys(local.s), ...Object.keys(env.s ?? {})]);
      const stores = env.s === undefined ? [] : [...names].filter((n) => local.s[n] !== env.s![n]).sort();
      this.host.onDivergence({ index: env.i, leaderDigest: env.d, localDigest: local.d, stores });
    }
    return null;
  }

  /** One digest per store and one of the session table; the state's digest is the digest of those. */
  private digestState(): StateDigest {
    const sha256 = (text: string): string => hash('sha256', text, 'hex');
    const s: Record<string, string> = {};
    for (const [name, store] of this.stores) s[name] = typeof store.digest === 'function' ? store.digest() : sha256(JSON.stringify(store.snapshot()) ?? 'null');
    s[SESSIONS_PART] = this.sessionDigest.value();
    return { d: sha256(JSON.stringify(s)), s };
  }

  private takeDigest(index: number): void {
    let digest: StateDigest;
    try {
      digest = this.digestState();
    } catch (err) {
      this.host.warn(`state digest at ${index} failed: ${(err as Error).message}`);
      return;
    }
    this.digests.set(index, digest);
    while (this.digests.size > DIGESTS_KEPT) this.digests.delete(this.digests.keys().next().value!);
    if (this.host.isLeader()) this.host.proposeDigest(index, digest.d, digest.s);
  }

  private captureStores(): Map<string, string> {
    const saved = new Map<string, string>();
    for (const [name, store] of this.stores) saved.set(name, JSON.stringify(store.snapshot()) ?? 'null');
    return saved;
  }

  private restoreStores(saved: Map<string, string>): void {
    for (const [name, store] of this.stores) store.restore(JSON.parse(saved.get(name) ?? 'null'));
  }

  /** A {@link SnapshotDocument}; the session table from the texts kept for it, not serialised again. */
  snapshot(): Uint8Array {
    const stores: [string, string | undefined][] = [];
    for (const [name, store] of this.stores) stores.push([name, JSON.stringify(store.snapshot()) as string | undefined]);
    return this.snapshotDocument(stores, [...this.sessionTexts.values()]);
  }

  /**
   * The same document as `snapshot()`, of the state as it is now, without holding applies back: stores
   * that can (`openSnapshot`, copy-on-write) are serialised a slice per event-loop turn while applies
   * go on; the other stores, the session table and the digests are taken at once. Null when the state
   * is restored from a leader's snapshot meanwhile.
   */
  async captureSnapshot(): Promise<Uint8Array | null> {
    const restores = this.restores;
    const stores: [string, string | undefined | StoreSnapshotCursor][] = [];
    for (const [name, store] of this.stores) {
      stores.push([name, typeof store.openSnapshot === 'function' ? store.openSnapshot() : (JSON.stringify(store.snapshot()) as string | undefined)]);
    }
    const sessions = [...this.sessionTexts.values()];
    const digests = this.digestList();
    const journal = this.journal?.snapshot();
    // The document is encoded slice by slice: one text of many MB to join and encode would block the loop again.
    const chunks: Buffer[] = [Buffer.from(DOCUMENT_HEAD)];
    let first = true;
    for (const [name, part] of stores) {
      if (part === undefined) continue; // left out, as JSON.stringify of the document would
      chunks.push(Buffer.from(`${first ? '' : ','}${storeKey(name)}${typeof part === 'string' ? part : part.open}`));
      first = false;
      if (typeof part === 'string') continue;
      for (let n = 0; ; n++) {
        await nextTurn();
        if (this.restores !== restores) return null;
        const slice = part.next(SNAPSHOT_SLICE_ITEMS);
        if (slice === null) break;
        chunks.push(Buffer.from(n === 0 ? slice : `,${slice}`));
      }
      chunks.push(Buffer.from(part.close));
    }
    chunks.push(Buffer.from(documentTail(sessions, digests, journal)));
    return Buffer.concat(chunks);
  }

  private digestList(): SnapshotDocument['digests'] {
    return [...this.digests].map(([i, d]) => [i, d.d, d.s]);
  }

  private snapshotDocument(stores: [string, string | undefined][], sessions: string[]): Uint8Array {
    const parts: string[] = [];
    // A store whose snapshot is undefined is left out, as JSON.stringify of the document would: it restores from undefined.
    for (const [name, json] of stores) if (json !== undefined) parts.push(`${storeKey(name)}${json}`);
    return new TextEncoder().encode(`${DOCUMENT_HEAD}${parts.join(',')}${documentTail(sessions, this.digestList(), this.journal?.snapshot())}`);
  }

  restore(data: Uint8Array): void {
    this.restores++;
    this.sessions.clear();
    this.sessionHashes.clear();
    this.sessionTexts.clear();
    this.sessionDigest.clear();
    this.digests.clear();
    if (data.length === 0) {
      for (const store of this.stores.values()) store.restore(undefined);
      this.journal?.restore(undefined);
      return;
    }
    const doc = JSON.parse(new TextDecoder().decode(data)) as SnapshotDocument;
    if (doc.v !== 1) throw new Error(`snapshot format ${String(doc.v)} is not known to this version`);
    for (const [name, store] of this.stores) store.restore(doc.stores[name]);
    for (const [r, rec] of doc.sessions) this.addSession(r, rec);
    for (const [i, d, s] of doc.digests) this.digests.set(i, { d, s: s ?? {} });
    this.journal?.restore(doc.j);
  }
}
