// Renames across ministries (issue 16): a two-phase commit (seed 003, 2PC) with the president
// as coordinator and the cluster log as the place its decision becomes durable. This file is
// the replicated half: each ministry's ledger of open transactions, applied from its group log
// beside the namespace (MinistryNamespace), so that a new minister resumes from the log.
//
//   source  CrossRenameOut   the client's rename (exactly once: its client id and seq): checks
//                            and exports `from` with the caller's credentials (namespace-
//                            xrename.ts), locks it; transaction id "<ministry>@<index>"
//   target  CrossRenameIn    checks `to` as rename would, with the same credentials, reserves
//                            it, keeps the tree (POSIX attributes, links within it); the
//                            minister votes with the entry's index
//   both    CrossRenameEnd   the president's decision: commit (the source detaches `from` and
//                            saves the client's answer; the target grafts the tree at `to`) or
//                            abort (for good: the target's error is the answer; for now: nothing
//                            is saved and the client's retry starts a new transaction)
//
// While a name is locked or reserved, a client change touching it (the name, what is below
// it, or an ancestor) is refused EAGAIN without being saved (the client retries the same
// request), and so are reads of it and listings of its directory: no reader sees both names or
// neither. The rules of who asks whom are in rename-core.ts.

import { checkCreds, ROOT, type Creds } from '../fs/access.js';
import { fsErrors, isFsErrorCode, FsError, type FsErrorData } from '../fs/errors.js';
import type { MovedNode, MutationOp, Namespace, OpResult } from '../fs/namespace.js';
import { isWithin } from '../fs/path.js';
import type { CrossRenameVoteMessage } from '../fs/requests.js';
import { LogCodec, type CrossRenameDecisionMsg, type CrossRenameLedgerMsg } from '../wire/log-codec.js';
import { movedFromMsg, movedToMsg, type CrossRenameEntry } from './ministry-entry.js';

type OutEntry = Extract<CrossRenameEntry, { op: 'xrename.out' }>;
type InEntry = Extract<CrossRenameEntry, { op: 'xrename.in' }>;

/** The president's decision on a transaction (ClusterState.crossRenames). */
export type CrossRenameDecision = CrossRenameDecisionMsg;

/** A source's open transaction: `from` is locked until its decision applies here. */
export interface OutTx {
  txid: string;
  clientId: string;
  seq: number;
  from: string;
  to: string;
  target: string;
  /** Who asked (the target checks `to` with these too); root when absent. */
  as?: Creds;
  /** This member's clock when it locked `from` (or restored the lock from a snapshot): the
   * leases of the moved files are waited out from then (not replicated, like a migration's). */
  since: number;
}

/** A target's open transaction: `to` is reserved, the tree kept to graft. */
export interface InTx {
  txid: string;
  source: string;
  from: string;
  to: string;
  tree: MovedNode[];
  index: number;
  replaced: boolean;
  /** The moved files' layouts (govfs.log.Layouts, by the source's inode numbers; empty: none). */
  layouts: Uint8Array;
  /** The source's lease token counter when it exported the tree. */
  leaseToken: number;
}

/** What applying a source's CrossRenameOut gave. */
export type OutOutcome =
  /** The client's answer now: a saved result, a stale request, or the source's error. */
  | { kind: 'final'; result: OpResult }
  /** Another transaction (`holder`) holds a name: EAGAIN, nothing saved. */
  | { kind: 'busy'; error: FsErrorData; holder: string }
  | { kind: 'pending'; txid: string };

/** The target's vote, from applying its CrossRenameIn: the wire's CrossRenameVote less its type. */
export type Vote = Omit<CrossRenameVoteMessage, 'type'>;

/** Transactions ended at a target are remembered this long (a late duplicate prepare is
 * refused, not reserved again); the client completion records' TTL is the same order. */
export const ENDED_TTL_MS = 10 * 60_000;

const LEDGER = new LogCodec('govfs.log.CrossRenameLedger');

/** What the ministry around the ledger refuses at phase one (MinistryNamespace): a name in a
 * subtree that a live migration fenced (why, or null: EAGAIN, nothing saved, the client
 * retries). */
export interface PhaseOneChecks {
  fenced(path: string): string | null;
}

export class RenameLedger {
  /** This ministry's id: the prefix of the transactions it starts. */
  owner = '';
  readonly outs = new Map<string, OutTx>();
  readonly ins = new Map<string, InTx>();
  /** Transactions ended here as a target, with when. */
  readonly ended = new Map<string, number>();

  get empty(): boolean {
    return this.outs.size === 0 && this.ins.size === 0;
  }

  /** Phase one at the source (the client's rename, taken once per client id and seq). */
  applyOut(ns: Namespace, e: OutEntry, index: number, checks?: PhaseOneChecks, now = 0): OutOutcome {
    const prior = ns.clientRequest(e.clientId, e.seq, e.acked, e.now);
    if (prior === 'stale') {
      const error = fsErrors.stale(`request #${e.seq} of client ${e.clientId}`, undefined, 'the client already has its answer (a delayed duplicate; not applied)');
      return { kind: 'final', result: { ok: false, error: error.toJSON() } };
    }
    if (prior !== undefined) return { kind: 'final', result: prior };
    for (const tx of this.outs.values()) if (tx.clientId === e.clientId && tx.seq === e.seq) return { kind: 'pending', txid: tx.txid };
    // A name another transaction holds first: what the namespace says of it is not yet true
    // (a name reserved here is not grafted until its end).
    const holder = this.holder([e.from]);
    if (holder) return { kind: 'busy', error: busy(`rename ${e.from} -> ${e.to}`, e.from, holder), holder: holder.txid };
    const fenced = checks?.fenced(e.from) ?? null;
    // (Not saved: the client's retry is taken anew, here after an abort or where the map sends it.)
    if (fenced !== null) return { kind: 'final', result: { ok: false, error: { code: 'EAGAIN', message: `rename ${e.from} -> ${e.to}: ${fenced}`, path: e.from } } };
    try {
      ns.exportTree(e.from, creds(e.as, 'rename'), e.to);
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      return { kind: 'final', result: ns.saveResult(e.clientId, e.seq, { ok: false, error: err.toJSON() }) };
    }
    const txid = `${this.owner}@${index}`;
    const tx: OutTx = { txid, clientId: e.clientId, seq: e.seq, from: e.from, to: e.to, target: e.target, since: now };
    if (e.as !== undefined) tx.as = e.as;
    this.outs.set(txid, tx);
    return { kind: 'pending', txid };
  }

  /** Phase one at the target: the vote. */
  applyIn(ns: Namespace, e: InEntry, index: number, checks?: PhaseOneChecks): Vote {
    const no = (retry: boolean, code: string, message: string): Vote => ({ ok: false, retry, code, message, index, replaced: false });
    const open = this.ins.get(e.txid);
    if (open) return { ok: true, retry: false, code: '', message: '', index: open.index, replaced: open.replaced };
    if (this.ended.has(e.txid)) return no(true, 'EAGAIN', `rename ${e.from} -> ${e.to}: transaction ${e.txid} already ended here`);
    const top = e.tree[0];
    if (!top || top.path !== '') return no(false, 'EINVAL', `rename ${e.from} -> ${e.to}: no tree to move`);
    // (Held names first, as at the source.)
    const holder = this.holder([e.to]);
    if (holder) return no(true, 'EAGAIN', busy(`rename ${e.from} -> ${e.to}`, e.to, holder).message);
    const fenced = checks?.fenced(e.to) ?? null;
    if (fenced !== null) return no(true, 'EAGAIN', `rename ${e.from} -> ${e.to}: ${fenced}`);
    let replaced: boolean;
    try {
      replaced = ns.graftCheck(e.from, e.to, top.kind === 'dir', creds(e.as, `rename ${e.from} ->`));
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      return no(false, err.code, err.message);
    }
    const tree = e.tree.map((n) => ({ ...n }));
    this.ins.set(e.txid, { txid: e.txid, source: e.source, from: e.from, to: e.to, tree, index, replaced, layouts: e.layouts ?? new Uint8Array(0), leaseToken: e.leaseToken ?? 0 });
    return { ok: true, retry: false, code: '', message: '', index, replaced };
  }

  /** Phase two, at either end: returns the source's transaction it ended, if any (its client's
   * answer is then saved, unless the abort was for now). A target's commit fills `inos` with
   * the moved files' new inode numbers (the source's -> this ministry's). */
  applyEnd(ns: Namespace, d: CrossRenameDecision, now: number, inos?: Map<number, number>): OutTx | null {
    const out = this.outs.get(d.txid);
    if (out) {
      this.outs.delete(d.txid);
      if (d.commit) {
        const version = ns.detach(out.from, now);
        ns.saveResult(out.clientId, out.seq, { ok: true, op: 'rename', version, replaced: d.replaced, targetMinistry: d.target, targetIndex: d.targetIndex });
      } else if (!d.retry) {
        ns.saveResult(out.clientId, out.seq, { ok: false, error: { code: clientCode(d.code), message: d.message, path: out.to } });
      }
      return out;
    }
    const inn = this.ins.get(d.txid);
    if (inn) {
      this.ins.delete(d.txid);
      this.ended.set(d.txid, now);
      if (d.commit) ns.graft(inn.to, inn.tree, now, inos);
    }
    return null;
  }

  /** A client change this ledger holds back (EAGAIN), or null. */
  refusesChange(body: MutationOp): FsErrorData | null {
    const paths = 'from' in body ? [body.from, body.to] : [body.path];
    const holder = this.holder(paths);
    return holder ? busy(body.op, paths[0]!, holder) : null;
  }

  /** Why a read must wait (a locked or reserved name, or its directory's listing), or null. */
  refusesRead(op: 'ls' | 'stat', path: string): FsErrorData | null {
    for (const [name, txid] of this.names()) {
      const parent = name.slice(0, Math.max(1, name.lastIndexOf('/')));
      if (isWithin(path, name) || (op === 'ls' && path === parent)) return busy(op, path, { name, txid });
    }
    return null;
  }

  /** Forget ended transactions older than `ttlMs` (with the clients' completion records). */
  expire(now: number, ttlMs: number): void {
    for (const [txid, at] of this.ended) if (at + ttlMs <= now) this.ended.delete(txid);
  }

  /** Protobuf (govfs.log.CrossRenameLedger behind the format byte). */
  toBytes(): Uint8Array {
    const msg: CrossRenameLedgerMsg = {
      outs: [...this.outs.values()].map((t) => ({ clientId: t.clientId, seq: t.seq, acked: 0, now: 0, from: t.from, to: t.to, target: t.target, txid: t.txid, caller: t.as === undefined ? null : { uid: t.as.uid, gid: t.as.gid, groups: [...t.as.groups] } })),
      ins: [...this.ins.values()].map((t) => ({ txid: t.txid, source: t.source, from: t.from, to: t.to, tree: t.tree.map(movedToMsg), now: 0, index: t.index, replaced: t.replaced, layouts: t.layouts, leaseToken: t.leaseToken })),
      ended: [...this.ended.keys()],
      endedAt: [...this.ended.values()],
    };
    return LEDGER.encode(msg);
  }

  static fromBytes(bytes: Uint8Array, owner: string, now = 0): RenameLedger {
    const l = new RenameLedger();
    l.owner = owner;
    if (bytes.length === 0) return l;
    const m = LEDGER.decode(bytes);
    for (const t of m.outs) {
      const tx: OutTx = { txid: t.txid, clientId: t.clientId, seq: t.seq, from: t.from, to: t.to, target: t.target, since: now };
      if (t.caller !== null && t.caller !== undefined) tx.as = { uid: t.caller.uid, gid: t.caller.gid, groups: [...t.caller.groups] };
      l.outs.set(t.txid, tx);
    }
    for (const t of m.ins) {
      l.ins.set(t.txid, { txid: t.txid, source: t.source, from: t.from, to: t.to, tree: t.tree.map(movedFromMsg), index: t.index, replaced: t.replaced, layouts: t.layouts ?? new Uint8Array(0), leaseToken: t.leaseToken ?? 0 });
    }
    m.ended.forEach((txid, i) => l.ended.set(txid, m.endedAt[i] ?? 0));
    return l;
  }

  /** An open transaction holding a name in `subtree` or above it (a live migration must not
   * fence it meanwhile), or null. */
  holding(subtree: string): { name: string; txid: string } | null {
    return this.holder([subtree]);
  }

  /** Locked (source) and reserved (target) names, with their transactions. */
  private *names(): Generator<[string, string]> {
    for (const t of this.outs.values()) yield [t.from, t.txid];
    for (const t of this.ins.values()) yield [t.to, t.txid];
  }

  /** The transaction holding a name that one of `paths` is, lies under or holds. */
  private holder(paths: readonly string[]): { name: string; txid: string } | null {
    if (this.empty) return null;
    for (const [name, txid] of this.names()) for (const p of paths) if (isWithin(p, name) || isWithin(name, p)) return { name, txid };
    return null;
  }
}

/** The caller's credentials from an entry (root when absent): EINVAL if malformed. */
function creds(as: Creds | undefined, op: string): Creds {
  return as === undefined ? ROOT : checkCreds(as, op);
}

/** A decision's error code as the client's saved answer: one the client library knows, EIO for
 * any other (a code from a newer node, or a malformed decision), so that the saved result stays
 * readable by every retry. */
export function clientCode(code: string): FsErrorData['code'] {
  return isFsErrorCode(code) ? code : 'EIO';
}

function busy(op: string, path: string, h: { name: string; txid: string }): FsErrorData {
  return { code: 'EAGAIN', message: `${op} ${path}: ${h.name} is being renamed across ministries (transaction ${h.txid}): retry`, path };
}
