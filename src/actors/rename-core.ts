// Renames across ministries (issue 16): who asks whom. A president-coordinated two-phase commit
// (seed 003, 2PC), whose durable records are the two group logs and the cluster log; the
// replicated ledger is rename-ledger.ts. Pure, like the other cores: no ctx, no timers.
//
// Why the source's minister drives, not the client library: the client's rename is one request
// (client id, seq) to the ministry of `from`, whose log keeps its completion record. The
// source's phase-one entry takes the request once; its phase-two entry saves the answer; a
// retry meanwhile waits for it, and a retry after it gets the saved answer (exactly once, as any
// other change). The client library knows nothing of the protocol.
//
//  1. source minister: logs CrossRenameOut (checks, locks `from`; or answers at once: an error,
//     a saved answer). Then, until the cluster log holds a decision on the transaction, sends
//     the president CrossRenameBegin every BEGIN_EVERY_MS, carrying the target's phase-one
//     entry (the subtree, exported from the locked, so unchanging, `from`).
//  2. president (RenameCoordinator): asks the target's minister to prepare; the target logs
//     CrossRenameIn (checks `to` as rename would, reserves it) and votes. The president orders
//     the decision into the cluster log: commit on a yes, abort for good on a no (the target's
//     error is the client's answer), abort for now when busy or unreachable (the client's retry
//     is a new transaction). The decision is durable there; the first one on a transaction
//     stands (ClusterState), so two presidents, or a resent Begin, cannot decide twice.
//  3. both ministers: each reads the decision in its node's copy of the cluster log and logs
//     CrossRenameEnd (the source detaches `from` and saves the client's answer; the target
//     grafts the tree at `to`). Nobody needs to be told: a minister, new or old, looks at every
//     tick until its ledger has no open transaction.
//
// A crash anywhere resumes from the logs: a source with a transaction open resends Begin; a
// target's prepare is idempotent (by transaction id) and a transaction it already ended is
// never prepared again; a president that lost its state is asked again.
//
// Decisions are forgotten once both ministries have applied their end: each minister reports,
// every REPORT_EVERY_MS while the cluster state holds a decision naming its ministry, the ones
// it is done with (a source once it applied the transaction's first entry and holds it no
// more; a target holding it no more and, for a commit, having applied its prepare), and the
// president orders crossRenameForget once both (or a dissolved ministry) said so. A target
// that applies a prepare late, after its decision was forgotten (a vote that came too late,
// an old prepare message), holds a reservation nobody would decide on: after ORPHAN_MS it
// asks the president, which aborts it (the first decision stands, so this can only abort a
// transaction nobody decided yet, or one whose decision was an abort and is forgotten).

import type { ClusterOrder, ClusterState, MinistryRecord } from './cluster-state.js';
import { NO_MINISTER } from './cluster-state.js';
import type { CrossRenameBeginMessage, CrossRenamePrepareMessage, CrossRenameVoteMessage } from '../fs/requests.js';
import type { FsErrorData } from '../fs/errors.js';
import type { Creds } from '../fs/access.js';
import type { OpResult } from '../fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry, type MinistryLogEntry } from './ministry-entry.js';
import { MinistryNamespace, type ClientOutcome } from './ministry-namespace.js';
import type { CrossRenameDecision, OutOutcome, OutTx, Vote } from './rename-ledger.js';
import type { MinistryAnswer } from './ministry-core-types.js';

/** How often a source resends Begin while its transaction is undecided, and re-proposes an
 * end that has not applied (lost to a new minister). */
export const BEGIN_EVERY_MS = 200, END_EVERY_MS = 500;
/** How long the president waits for the target's vote. */
export const VOTE_WAIT_MS = 1_000;
/** How long a rename whose source name another transaction holds waits for it to end before
 * the client is told to retry (a rename back right after one in: the target's end may lag). */
export const PARK_MS = 1_000;
/** How often a minister reports the transactions it is done with (while any is decided). */
export const REPORT_EVERY_MS = 250;
/** How long a target holds a reservation with no decision before it asks for an abort. */
export const ORPHAN_MS = 10_000;
/** Most transactions one report or one forget order names. */
const REPORT_MAX = 512;

/** What the minister's core gives the driver. */
export interface RenameHost<R> {
  readonly now: number;
  /** This ministry's id. */
  readonly ministry: string;
  readonly ns: MinistryNamespace;
  /** How long after locking a tree with contents, and after a write lease's last renewal, the
   * source waits before it exports (the lease TTL, drift bound and a clerk's catch-up window). */
  readonly leaseWaitMs: number;
  /** The minister, not fenced, leading its group log and settled in it (GroupLogView.settled). */
  leading(): boolean;
  cluster(): ClusterState;
  /** The index this member has applied. */
  applied(): number;
  /** Propose `payload`; `k` gets what applying it gave, or null if it was refused or lost. */
  propose(payload: Uint8Array, k: (o: { index: number; value: unknown } | null) => void): void;
  begin(msg: CrossRenameBeginMessage): void;
  reply(to: R, answer: MinistryAnswer): void;
  vote(to: R, vote: Vote): void;
}

interface Waiter<R> {
  reply: R;
  clientId: string;
  seq: number;
}

/** A client's rename, as the minister read it. */
export interface CrossRenameRequest {
  clientId: string;
  seq: number;
  acked: number;
  from: string;
  to: string;
  /** Who asks (checked at both ends); root when absent. */
  as?: Creds;
}

/** The minister's side (source and target) of every rename across ministries. */
export class RenameDriver<R> {
  /** Clients waiting for their transaction's end, by transaction. */
  private readonly waiters = new Map<string, Waiter<R>[]>();
  private readonly begunAt = new Map<string, number>();
  private readonly endedAt = new Map<string, number>();
  /** When this minister first saw each open reservation undecided. */
  private readonly undecidedSince = new Map<string, number>();
  private reportedAt = -Infinity;
  /** Renames whose source name another transaction holds, until it ends. */
  private parked: { req: CrossRenameRequest; target: MinistryRecord; reply: R; holder: string; error: FsErrorData; until: number }[] = [];

  /** Clients waiting (for tests). */
  get waiting(): number {
    let n = this.parked.length;
    for (const w of this.waiters.values()) n += w.length;
    return n;
  }

  /** Phase one at the source: the client's rename of `from` here to `to` in `target`. */
  start(host: RenameHost<R>, req: CrossRenameRequest, target: MinistryRecord, reply: R): void {
    const out: Extract<MinistryLogEntry, { op: 'xrename.out' }> = { op: 'xrename.out', clientId: req.clientId, seq: req.seq, acked: req.acked > 0 && req.acked < req.seq ? req.acked : 0, now: host.now, from: req.from, to: req.to, target: target.id, txid: '' };
    if (req.as !== undefined) out.as = req.as;
    const payload = encodeMinistryEntry(out);
    host.propose(payload, (o) => {
      if (!o) return host.reply(reply, error({ code: 'EAGAIN', message: `rename ${req.from} -> ${req.to}: the minister of ${host.ns.root} lost the change to a new one: retry`, path: req.from }));
      const r = o.value as OutOutcome;
      if (r.kind === 'final') return host.reply(reply, { kind: 'result', result: outcomeOf(r.result), index: o.index });
      if (r.kind === 'busy') {
        this.parked.push({ req, target, reply, holder: r.holder, error: r.error, until: host.now + PARK_MS });
        return;
      }
      const list = this.waiters.get(r.txid) ?? [];
      list.push({ reply, clientId: req.clientId, seq: req.seq });
      this.waiters.set(r.txid, list);
      this.drive(host);
    });
  }

  /** Phase one at the target, asked by the president: log its entry, then vote. */
  prepare(host: RenameHost<R>, msg: CrossRenamePrepareMessage, reply: R): void {
    const no = (retry: boolean, code: string, message: string): void => host.vote(reply, { ok: false, retry, code, message, index: 0, replaced: false });
    if (!host.leading()) return no(true, 'EAGAIN', `not the minister of ${host.ns.root}`);
    if (host.cluster().crossRenames.has(msg.txid)) return no(true, 'EAGAIN', `transaction ${msg.txid} is already decided`);
    let entry: unknown;
    try {
      entry = decodeMinistryEntry(msg.entry);
    } catch {
      entry = null;
    }
    const e = entry as { op?: string; txid?: string } | null;
    if (e?.op !== 'xrename.in' || e.txid !== msg.txid) return no(false, 'EINVAL', `prepare of ${msg.txid}: not a rename's target entry`);
    host.propose(msg.entry, (o) => (o ? host.vote(reply, o.value as Vote) : no(true, 'EAGAIN', `the minister of ${host.ns.root} lost the prepare to a new one`)));
  }

  /** Every tick and apply: answer the clients whose transaction ended; as minister, move each
   * open transaction on (Begin until decided, then the end). */
  drive(host: RenameHost<R>): void {
    const { ns } = host;
    const leading = host.leading();
    if (this.parked.length > 0) {
      const parked = this.parked;
      this.parked = [];
      for (const p of parked) {
        const held = ns.renames.outs.has(p.holder) || ns.renames.ins.has(p.holder);
        if (held && leading && host.now <= p.until) this.parked.push(p);
        else if (!held && leading) this.start(host, p.req, p.target, p.reply);
        else host.reply(p.reply, error(p.error));
      }
    }
    for (const [txid, list] of this.waiters) {
      if (ns.renames.outs.has(txid) && leading) continue;
      this.waiters.delete(txid);
      for (const w of list) this.answerWaiter(host, w);
    }
    if (leading) this.report(host);
    if (!leading || ns.renames.empty) {
      this.begunAt.clear();
      this.endedAt.clear();
      this.undecidedSince.clear();
      return;
    }
    const decisions = host.cluster().crossRenames;
    for (const tx of ns.renames.outs.values()) {
      const d = decisions.get(tx.txid);
      if (d) this.end(host, d);
      else if (host.now - (this.begunAt.get(tx.txid) ?? -Infinity) >= BEGIN_EVERY_MS && host.now >= host.ns.renameExportAt(tx, host.leaseWaitMs)) {
        const msg = beginMessage(host, tx);
        if (msg) {
          this.begunAt.set(tx.txid, host.now);
          host.begin(msg);
        }
      }
    }
    for (const tx of ns.renames.ins.values()) {
      const d = decisions.get(tx.txid);
      if (d) this.end(host, d);
      else {
        if (!this.undecidedSince.has(tx.txid)) this.undecidedSince.set(tx.txid, host.now);
        // The source was dissolved (a subtree delete) before anything was decided, or nothing
        // was decided for long (a prepare applied after its decision was forgotten): nobody
        // else will ask, so the target asks the president to close the transaction (an abort).
        const orphan = !host.cluster().ministries.has(tx.source) || host.now - this.undecidedSince.get(tx.txid)! >= ORPHAN_MS;
        if (orphan && host.now - (this.begunAt.get(tx.txid) ?? -Infinity) >= BEGIN_EVERY_MS) {
          this.begunAt.set(tx.txid, host.now);
          host.begin({ type: 'govfs.fs.CrossRenameBegin', txid: tx.txid, source: tx.source, target: host.ministry, to: tx.to, entry: new Uint8Array(0) });
        }
      }
    }
    for (const m of [this.begunAt, this.endedAt, this.undecidedSince]) for (const txid of m.keys()) if (!ns.renames.outs.has(txid) && !ns.renames.ins.has(txid)) m.delete(txid);
  }

  /** Tell the president which decided transactions this ministry is done with (see the top). */
  private report(host: RenameHost<R>): void {
    if (host.now - this.reportedAt < REPORT_EVERY_MS) return;
    const done = endedHere(host.ministry, host.cluster().crossRenames.values(), host.ns, host.applied());
    if (done.length === 0) return;
    this.reportedAt = host.now;
    host.begin({ type: 'govfs.fs.CrossRenameBegin', txid: '', source: host.ministry, target: '', to: '', entry: new Uint8Array(0), ended: done });
  }

  private end(host: RenameHost<R>, d: CrossRenameDecision): void {
    if (host.now - (this.endedAt.get(d.txid) ?? -Infinity) < END_EVERY_MS) return;
    this.endedAt.set(d.txid, host.now);
    host.propose(encodeMinistryEntry({ op: 'xrename.end', decision: d, now: host.now }), () => this.drive(host));
  }

  /** The transaction of `w` ended (or this member no longer leads): its saved answer, or retry. */
  private answerWaiter(host: RenameHost<R>, w: Waiter<R>): void {
    const saved = host.ns.completed(w.clientId, w.seq);
    if (saved) return host.reply(w.reply, { kind: 'result', result: saved, index: host.applied() });
    host.reply(w.reply, error({ code: 'EAGAIN', message: `the rename across ministries was not decided here (aborted for now, or a new minister): retry`, path: '' }));
  }
}

/** The decided transactions ministry `me` is done with, from its state (applied up to
 * `applied`): as source, it applied the transaction's first entry (its id's index) and holds it
 * no more; as target, it holds it no more and, for a commit, applied its prepare (the vote's
 * index). At most REPORT_MAX. */
export function endedHere(me: string, decisions: Iterable<CrossRenameDecision>, ns: MinistryNamespace, applied: number): string[] {
  const out: string[] = [];
  for (const d of decisions) {
    if (out.length >= REPORT_MAX) break;
    const source = d.source === me && !ns.renames.outs.has(d.txid) && Number(d.txid.slice(d.txid.lastIndexOf('@') + 1)) <= applied;
    const target = d.target === me && !ns.renames.ins.has(d.txid) && (!d.commit || d.targetIndex <= applied);
    if (source || target) out.push(d.txid);
  }
  return out;
}

/** Begin for an open transaction of the source: the target's phase-one entry with the locked
 * subtree (null if it cannot be exported, which the lock rules out). */
function beginMessage<R>(host: RenameHost<R>, tx: OutTx): CrossRenameBeginMessage | null {
  let tree;
  try {
    tree = host.ns.namespace.exportTree(tx.from);
  } catch {
    return null;
  }
  const inn: Extract<MinistryLogEntry, { op: 'xrename.in' }> = { op: 'xrename.in', txid: tx.txid, source: host.ministry, from: tx.from, to: tx.to, tree, now: host.now, index: 0, replaced: false, ...host.ns.renameCarried(tx.from) };
  if (tx.as !== undefined) inn.as = tx.as;
  const entry = encodeMinistryEntry(inn);
  return { type: 'govfs.fs.CrossRenameBegin', txid: tx.txid, source: host.ministry, target: tx.target, to: tx.to, entry };
}

function outcomeOf(r: OpResult): ClientOutcome {
  return r.ok ? MinistryNamespace.clientOutcome({ ok: true, value: r }) : { ok: false, error: r.error };
}

function error(e: FsErrorData): MinistryAnswer {
  return { kind: 'error', error: e };
}

// ---- the president's side ------------------------------------------------------------------

export type CoordinatorEffect =
  /** Ask the target's minister (node `node`) to prepare; call voted() with its vote, or null. */
  | { kind: 'ask-prepare'; txid: string; node: string; msg: CrossRenamePrepareMessage; timeoutMs: number }
  | { kind: 'propose'; order: ClusterOrder; why: string };

/** The coordinator in the president: stateless but for the votes it is waiting for (a new
 * president learns of a transaction from the source's next Begin). */
export class RenameCoordinator {
  private readonly asking = new Map<string, CrossRenameBeginMessage>();
  /** Which ministries said they are done with each decided transaction. */
  private readonly done = new Map<string, Set<string>>();

  /** A source's Begin, a target's request to close an orphan, or a ministry's report. */
  begin(msg: CrossRenameBeginMessage, state: Readonly<ClusterState>): CoordinatorEffect[] {
    if (Array.isArray(msg.ended) && msg.ended.length > 0) {
      const forget = this.ended(msg.source, msg.ended, state);
      return msg.txid === '' ? forget : [...forget, ...this.decideBegin(msg, state)];
    }
    return this.decideBegin(msg, state);
  }

  /** Ministry `from` is done with `txids`: the decisions both ministries are done with go. */
  private ended(from: string, txids: readonly unknown[], state: Readonly<ClusterState>): CoordinatorEffect[] {
    for (const txid of txids.slice(0, REPORT_MAX)) {
      const d = typeof txid === 'string' ? state.crossRenames.get(txid) : undefined;
      if (!d || (from !== d.source && from !== d.target)) continue;
      const by = this.done.get(d.txid) ?? new Set<string>();
      by.add(from);
      this.done.set(d.txid, by);
    }
    const forget: string[] = [];
    for (const [txid, by] of this.done) {
      const d = state.crossRenames.get(txid);
      if (!d) this.done.delete(txid);
      else if ((by.has(d.source) || !state.ministries.has(d.source)) && (by.has(d.target) || !state.ministries.has(d.target)) && forget.length < REPORT_MAX) forget.push(txid);
    }
    if (forget.length === 0) return [];
    return [{ kind: 'propose', order: { order: 'crossRenameForget', txids: forget }, why: `renames across ministries ${forget.length === 1 ? forget[0] : `${forget[0]} and ${forget.length - 1} more`} ended at both ministries: their decisions are forgotten` }];
  }

  private decideBegin(msg: CrossRenameBeginMessage, state: Readonly<ClusterState>): CoordinatorEffect[] {
    // (A transaction id is "<source ministry>@<index>": anything else is no transaction.)
    if (typeof msg.txid !== 'string' || typeof msg.source !== 'string' || !msg.txid.startsWith(`${msg.source}@`) || typeof msg.to !== 'string') return [];
    if (state.crossRenames.has(msg.txid) || this.asking.has(msg.txid)) return [];
    const source = state.ministries.get(msg.source);
    // A dissolved source (its target asks): nothing it locked is left to move.
    if (!source) return [decide(msg, { ok: false, retry: true, code: 'EAGAIN', message: `the ministry of the source (${msg.source}) was dissolved`, index: 0, replaced: false })];
    // A target holding a reservation nobody decided on for long: abort it.
    if (!(msg.entry instanceof Uint8Array) || msg.entry.length === 0) return [decide(msg, { ok: false, retry: true, code: 'EAGAIN', message: `the target (${msg.target}) held ${msg.to} undecided for ${ORPHAN_MS} ms`, index: 0, replaced: false })];
    const target = state.ministryFor(msg.to);
    if (!target || target.id !== msg.target || target.id === source.id) return [decide(msg, { ok: false, retry: true, code: 'EAGAIN', message: `the ministry serving ${msg.to} changed: retry`, index: 0, replaced: false })];
    if (target.fenced || target.down || target.minister === NO_MINISTER) {
      return [decide(msg, { ok: false, retry: true, code: 'EAGAIN', message: `the ministry serving ${msg.to} is being re-staffed: retry`, index: 0, replaced: false })];
    }
    this.asking.set(msg.txid, msg);
    return [{ kind: 'ask-prepare', txid: msg.txid, node: target.minister, msg: { type: 'govfs.fs.CrossRenamePrepare', txid: msg.txid, entry: msg.entry }, timeoutMs: VOTE_WAIT_MS }];
  }

  /** The target's vote on `txid` (null: no answer in time). */
  voted(txid: string, vote: Omit<CrossRenameVoteMessage, 'type'> | null, state: Readonly<ClusterState>): CoordinatorEffect[] {
    const msg = this.asking.get(txid);
    this.asking.delete(txid);
    if (!msg || state.crossRenames.has(txid)) return [];
    return [decide(msg, vote ?? { ok: false, retry: true, code: 'EAGAIN', message: `the target's minister did not vote within ${VOTE_WAIT_MS} ms: retry`, index: 0, replaced: false })];
  }
}

function decide(msg: CrossRenameBeginMessage, v: Omit<CrossRenameVoteMessage, 'type'>): CoordinatorEffect {
  const decision: CrossRenameDecision = {
    txid: msg.txid,
    commit: v.ok,
    retry: !v.ok && v.retry,
    code: v.ok ? '' : v.code,
    message: v.ok ? '' : v.message,
    source: msg.source,
    target: msg.target,
    targetIndex: v.ok ? v.index : 0,
    replaced: v.ok && v.replaced,
  };
  const what = v.ok ? 'commit' : v.retry ? `abort for now (${v.message})` : `abort: ${v.code} ${v.message}`;
  return { kind: 'propose', order: { order: 'crossRename', decision }, why: `rename across ministries ${msg.txid} (${msg.source} -> ${msg.target}, ${msg.to}): ${what}` };
}
