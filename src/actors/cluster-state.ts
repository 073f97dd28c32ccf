// The state machine of the cluster log (thesis 3.2): which ministries exist, which subtree each
// serves, who is its minister and who its clerks, and the one cluster-wide counter that gives
// every appointment a term higher than any before (thesis 4.4, "Dictatorial Raft"). Every node
// applies the same orders in the same order, so every node knows the subtree map.

import { isValidPath, isWithin } from '../fs/path.js';
import { LogCodec, ownFields, type ClusterOrderMsg, type ClusterSnapshotMsg } from '../wire/log-codec.js';
import type { MinistryInfo } from '../fs/requests.js';
import { applyMemberOrder, type MemberOrder, type Joined } from './membership-core.js';
import { applyMigrationOrder, migrationActive, PHASES, type Migration, type MigrationOrder } from './migration-state.js';
import type { CrossRenameDecision } from './rename-ledger.js';

/** A ministry as the cluster log holds it: what clients see of it (MinistryInfo: id, subtree,
 * minister, clerks, the Group Raft term of this appointment — unique and increasing across all
 * ministries — and `down`: fewer than half of it answered, clients get EUNAVAILABLE until it
 * is re-staffed), and the president's bookkeeping. */
export interface MinistryRecord extends MinistryInfo {
  /** Clerks wanted; fewer when no idle node was left (the ministry runs short). */
  clerksWanted: number;
  /** The minister was taken for failed: the members are held at `term` with no leader while
   * the president reads their logs and picks the most up-to-date one as the next minister. */
  fenced: boolean;
}

/** The leader a fenced group log follows: nobody, so nothing commits until re-appointment. */
export const NO_MINISTER = '(fenced)';

/** Orders the president appends to the cluster log. */
export type ClusterOrder =
  /** Appoint (or re-staff) a ministry. A new ministry gets the next id; `ministry` names an
   * existing one. Every appointment takes the next term. */
  | { order: 'appoint'; ministry?: string; subtree: string; minister: string; clerks: string[]; clerksWanted: number }
  | { order: 'down'; ministry: string; down: boolean }
  /** First half of replacing a minister: hold every member at a new term under no leader, so
   * the old minister (if it still runs) can commit nothing more. */
  | { order: 'fence'; ministry: string }
  /** Subtree delete (thesis Figure 9): the ministry is dissolved, its staff go idle. */
  | { order: 'dissolve'; ministry: string }
  /** A no-op the president uses to learn its log is current. */
  | { order: 'noop' }
  /** Turn the president's automatic balancer (thesis 3.4) on or off. */
  | { order: 'balance'; on: boolean }
  /** Membership (issue 20): a node joins, is asked to leave, is gone (membership-core.ts). */
  | MemberOrder
  /** Live subtree migration: split, merge (migration-state.ts). */
  | MigrationOrder
  /** The decision on a rename across ministries (rename-ledger.ts): the first one stands. */
  | { order: 'crossRename'; decision: CrossRenameDecision }
  /** Decisions both ministries have applied (rename-core.ts): forgotten. */
  | { order: 'crossRenameForget'; txids: string[] };

export type OrderResult = { ok: true; ministry?: MinistryRecord } | { ok: false; reason: string };

export class ClusterState {
  readonly nodes: string[];
  readonly ministries = new Map<string, MinistryRecord>();
  termCounter = 0;
  ministryCounter = 0;
  applied = 0;
  /** Every subtree a ministry was ever formed for (dissolved ones included): the president
   * forms the configured static ministries once, and a subtree delete is not undone. */
  readonly formed = new Set<string>();
  /** The president balances load (thesis 3.4) unless an order turned it off. */
  balancing = true;
  /** Membership (membership-core.ts): nodes that joined at runtime (their addresses), nodes
   * asked to leave (no new roles), and ids gone for good (refused from then on). */
  readonly joined = new Map<string, Joined>();
  readonly leaving = new Set<string>();
  readonly removed = new Set<string>();
  /** Live subtree migrations, in progress and the last finished (migration-state.ts). */
  readonly migrations = new Map<string, Migration>();
  migrationCounter = 0;
  /** Ministries formed for a split in progress: they serve nothing until its map commits. */
  private incoming = new Set<string>();
  /** Decisions on renames across ministries, by transaction (the ministries read their own
   * here and apply them in their group logs). Kept for good: see rename-core.ts. */
  readonly crossRenames = new Map<string, CrossRenameDecision>();

  constructor(nodes: string[]) {
    this.nodes = [...nodes].sort();
  }

  apply(order: ClusterOrder, index: number): OrderResult {
    this.applied = index;
    switch (order.order) {
      case 'appoint': {
        const members = [order.minister, ...order.clerks];
        if (new Set(members).size !== members.length || !members.every((m) => this.nodes.includes(m))) {
          return { ok: false, reason: `bad staff ${members.join(',')}` };
        }
        const id = order.ministry ?? `m${this.ministryCounter++}`;
        const existing = this.ministries.get(id);
        if (order.ministry !== undefined && !existing) return { ok: false, reason: `no ministry ${id}` };
        if (!existing && [...this.ministries.values()].some((m) => m.subtree === order.subtree)) {
          return { ok: false, reason: `subtree ${order.subtree} already has a ministry` };
        }
        // A node serves one ministry: appointing it here takes it out of any other.
        for (const other of this.ministries.values()) {
          if (other.id === id) continue;
          if (members.includes(other.minister) || other.clerks.some((c) => members.includes(c))) {
            return { ok: false, reason: `staff of ${id} already serves ministry ${other.id}` };
          }
        }
        const record: MinistryRecord = {
          id,
          subtree: existing?.subtree ?? order.subtree,
          minister: order.minister,
          clerks: [...order.clerks],
          term: ++this.termCounter,
          down: false,
          clerksWanted: order.clerksWanted,
          fenced: false,
        };
        this.ministries.set(id, record);
        this.formed.add(record.subtree);
        return { ok: true, ministry: record };
      }
      case 'down': {
        const m = this.ministries.get(order.ministry);
        if (!m) return { ok: false, reason: `no ministry ${order.ministry}` };
        m.down = order.down;
        return { ok: true, ministry: m };
      }
      case 'fence': {
        const m = this.ministries.get(order.ministry);
        if (!m) return { ok: false, reason: `no ministry ${order.ministry}` };
        m.term = ++this.termCounter;
        m.fenced = true;
        return { ok: true, ministry: m };
      }
      case 'dissolve':
        return this.ministries.delete(order.ministry) ? { ok: true } : { ok: false, reason: `no ministry ${order.ministry}` };
      case 'noop':
        return { ok: true };
      case 'balance':
        this.balancing = order.on;
        return { ok: true };
      case 'memberJoin':
      case 'memberLeave':
      case 'memberGone':
        return applyMemberOrder(this, order);
      case 'crossRename': {
        const d = order.decision;
        if (this.crossRenames.has(d.txid)) return { ok: false, reason: `transaction ${d.txid} is already decided` };
        // A commit between ministries of which one was dissolved meanwhile stands for nothing:
        // ordered after the dissolution, it becomes an abort for now.
        const gone = d.commit && (!this.ministries.has(d.source) || !this.ministries.has(d.target));
        this.crossRenames.set(d.txid, gone ? { ...d, commit: false, retry: true, code: 'EAGAIN', message: 'a ministry of the rename was dissolved: retry' } : { ...d });
        return { ok: true };
      }
      case 'crossRenameForget':
        for (const txid of order.txids) this.crossRenames.delete(txid);
        return { ok: true };
      default:
        return applyMigrationOrder(this, order, (subtree, minister, clerks, clerksWanted) => {
          const r = this.apply({ order: 'appoint', subtree, minister, clerks, clerksWanted }, index);
          return r.ok ? r.ministry! : r.reason;
        });
    }
  }

  /** Recompute what depends on the migrations (migration-state.ts calls it). */
  migrationsChanged(): void {
    this.incoming = new Set([...this.migrations.values()].filter((m) => m.split && migrationActive(m)).map((m) => m.to));
  }

  /** Formed for a split whose map has not committed: serves nothing yet. */
  isIncoming(ministry: string): boolean {
    return this.incoming.size > 0 && this.incoming.has(ministry);
  }

  /** The ministries that serve their subtrees (not those of a split in progress): the subtree
   * map that clients get. */
  serving(): MinistryRecord[] {
    const all = [...this.ministries.values()];
    return this.incoming.size === 0 ? all : all.filter((m) => !this.incoming.has(m.id));
  }

  /** The migration in progress that involves ministry `id`, if any. */
  migrationOf(id: string): Migration | undefined {
    for (const m of this.migrations.values()) if (migrationActive(m) && (m.from === id || m.to === id)) return m;
    return undefined;
  }

  /** The ministry a node serves, and as what. */
  roleOf(node: string): { ministry: MinistryRecord; role: 'minister' | 'clerk' } | null {
    for (const m of this.ministries.values()) {
      if (m.minister === node) return { ministry: m, role: 'minister' };
      if (m.clerks.includes(node)) return { ministry: m, role: 'clerk' };
    }
    return null;
  }

  /** Nodes in no ministry. */
  unassigned(): string[] {
    return this.nodes.filter((n) => this.roleOf(n) === null);
  }

  /** Configured static subtrees (`NodeConfig.ministries`) whose ministry this node has not
   * seen formed yet. The president may already have formed one, and its ministry may already
   * serve, while this node's copy of the cluster log lags: until this node knows, it must not
   * serve anything of that subtree (nor list its parent, nor move or remove what holds it). */
  unformed(statics: readonly { subtree: string }[] | undefined): readonly string[] {
    // Asked on every request a node serves: remembered while `formed` (which only grows) and
    // the configured list stay the same.
    const m = this.unformedMemo;
    if (m !== null && m.statics === statics && m.formedSize === this.formed.size) return m.list;
    const list = (statics ?? []).map((s) => s.subtree).filter((s) => !this.formed.has(s));
    this.unformedMemo = { statics, formedSize: this.formed.size, list };
    return list;
  }
  private unformedMemo: { statics: readonly { subtree: string }[] | undefined; formedSize: number; list: readonly string[] } | null = null;

  /** The ministry serving `path`: the longest subtree that is `path` or one of its ancestors. */
  ministryFor(path: string): MinistryRecord | null {
    let best: MinistryRecord | null = null;
    for (const m of this.ministries.values()) {
      if (isWithin(path, m.subtree) && (!best || m.subtree.length > best.subtree.length) && !this.isIncoming(m.id)) best = m;
    }
    return best;
  }

  /** Protobuf (govfs.log.ClusterSnapshot behind the format byte, src/wire/log-codec.ts). */
  snapshot(): Uint8Array {
    return SNAPSHOT.encode({ nodes: this.nodes, ministries: [...this.ministries.values()], termCounter: this.termCounter, ministryCounter: this.ministryCounter, applied: this.applied, formed: [...this.formed], balancingOff: !this.balancing, migrations: [...this.migrations.values()].map((m) => ({ ...m, phase: PHASES.indexOf(m.phase), namespace: m.namespace ?? new Uint8Array(0) })), migrationCounter: this.migrationCounter, joined: [...this.joined.values()], leaving: [...this.leaving], removed: [...this.removed], crossRenames: [...this.crossRenames.values()] });
  }

  /** A snapshot of either form: protobuf, or the JSON of data folders written before it ('{'). */
  static restore(bytes: Uint8Array): ClusterState {
    const o: ClusterSnapshotMsg = bytes[0] === JSON_START ? (JSON.parse(new TextDecoder().decode(bytes)) as ClusterSnapshotMsg) : SNAPSHOT.decode(bytes);
    const s = new ClusterState(o.nodes);
    for (const m of o.ministries) {
      s.ministries.set(m.id, { id: m.id, subtree: m.subtree, minister: m.minister, clerks: [...m.clerks], term: m.term, down: m.down, clerksWanted: m.clerksWanted, fenced: m.fenced ?? false });
    }
    // (JSON snapshots from before `formed` existed: the live ministries at least were formed.)
    for (const f of (o as { formed?: string[] }).formed ?? o.ministries.map((m) => m.subtree)) s.formed.add(f);
    s.termCounter = o.termCounter;
    s.ministryCounter = o.ministryCounter;
    s.applied = o.applied;
    s.balancing = o.balancingOff !== true;
    for (const j of o.joined ?? []) s.joined.set(j.node, { node: j.node, address: j.address, endpoint: j.endpoint });
    for (const n of o.leaving ?? []) s.leaving.add(n);
    for (const n of o.removed ?? []) s.removed.add(n);
    for (const m of o.migrations ?? []) {
      const phase = PHASES[m.phase] ?? 'aborted';
      s.migrations.set(m.id, { id: m.id, subtree: m.subtree, from: m.from, to: m.to, phase, split: m.split, namespace: phase === 'handed' ? m.namespace : null, leaseToken: m.leaseToken, reason: m.reason, startedAt: m.startedAt });
    }
    s.migrationCounter = o.migrationCounter ?? 0;
    s.migrationsChanged();
    for (const d of o.crossRenames ?? []) s.crossRenames.set(d.txid, { txid: d.txid, commit: d.commit, retry: d.retry, code: d.code, message: d.message, source: d.source, target: d.target, targetIndex: d.targetIndex, replaced: d.replaced });
    return s;
  }
}


const ORDER = new LogCodec('govfs.log.ClusterOrder');
const SNAPSHOT = new LogCodec('govfs.log.ClusterSnapshot');
/** The first byte of the JSON orders and snapshots of older data folders. The protobuf forms
 * start with LOG_FORMAT_PROTOBUF (0x02), never with this. */
const JSON_START = 0x7b;

/** An order as the cluster log holds it: govfs.log.ClusterOrder behind the format byte. */
export function encodeOrder(order: ClusterOrder): Uint8Array {
  return ORDER.encode(toOrderMsg(order));
}

/** An order of either form (protobuf, or the JSON of older data folders); null for an empty or
 * undecodable entry (the cluster log's own no-ops are empty). */
export function decodeOrder(data: Uint8Array): ClusterOrder | null {
  if (data.length === 0) return null;
  try {
    if (data[0] === JSON_START) return JSON.parse(new TextDecoder().decode(data)) as ClusterOrder;
    return fromOrderMsg(ORDER.decode(data));
  } catch {
    return null;
  }
}

function toOrderMsg(o: ClusterOrder): ClusterOrderMsg {
  switch (o.order) {
    case 'appoint':
      return { appoint: { ministry: o.ministry ?? '', subtree: o.subtree, minister: o.minister, clerks: o.clerks, clerksWanted: o.clerksWanted } };
    case 'crossRename':
      return { crossRename: o.decision };
    default: {
      // Every other order's message is its fields as they are, in the case its `order` names
      // (the encoder writes the message's fields only).
      const { order, ...fields } = o;
      return { [order]: fields } as ClusterOrderMsg;
    }
  }
}

function fromOrderMsg(m: ClusterOrderMsg): ClusterOrder | null {
  switch (m.order) {
    case 'appoint': {
      const a = m.appoint!;
      const order: ClusterOrder = { order: 'appoint', subtree: a.subtree, minister: a.minister, clerks: [...a.clerks], clerksWanted: a.clerksWanted };
      // "" is no ministry id (they are m0, m1, ...): a new ministry.
      return a.ministry === '' ? order : { ...order, ministry: a.ministry };
    }
    case 'crossRename':
      return { order: 'crossRename', decision: ownFields(m.crossRename!) as unknown as CrossRenameDecision };
    case undefined:
      return null;
    default:
      // Every other order is its message's fields as they are (toOrderMsg's default, reversed).
      return { order: m.order, ...ownFields(m[m.order]!) } as ClusterOrder;
  }
}

/** Nodes a cluster needs to form its static ministries: the president (a node of its own),
 * the root ministry's minister and clerks, then a minister and the clerks of each static one.
 * The root forms with whatever nodes there are (running short of clerks), but the president
 * forms a static ministry only from idle nodes other than itself, after the root took its
 * staff: with fewer nodes it would never form. */
export function nodesNeeded(ministries: readonly { subtree: string; clerks: number }[], rootClerks = 2): number {
  return 2 + rootClerks + ministries.reduce((n, m) => n + 1 + m.clerks, 0);
}

/** Why a cluster of `nodes` with these static ministries cannot start, or null: a malformed
 * static ministry, or (when `needsAll`: the caller waits for every ministry to form) too few
 * nodes to staff them, with the count needed (`needed` is then set). */
export function staffingProblem(
  nodes: number,
  ministries: readonly { subtree: string; clerks: number }[],
  rootClerks = 2,
  needsAll = true,
): { message: string; needed?: number } | null {
  if (!Number.isInteger(rootClerks) || rootClerks < 0) return { message: `rootClerks must be a non-negative integer, got ${rootClerks}` };
  const seen = new Set<string>();
  for (const m of ministries) {
    if (!isValidPath(m.subtree) || m.subtree === '/') return { message: `static ministry ${JSON.stringify(m.subtree)}: the subtree must be an absolute path other than / (e.g. /a)` };
    if (seen.has(m.subtree)) return { message: `static ministry ${m.subtree} is configured twice` };
    seen.add(m.subtree);
    if (!Number.isInteger(m.clerks) || m.clerks < 0) return { message: `static ministry ${m.subtree}: clerks must be a non-negative integer, got ${m.clerks}` };
  }
  const needed = nodesNeeded(ministries, rootClerks);
  if (!needsAll || ministries.length === 0 || nodes >= needed) return null;
  const parts = ['the president (1)', `/ (a minister and ${rootClerks} clerk${rootClerks === 1 ? '' : 's'})`, ...ministries.map((m) => `${m.subtree} (1 + ${m.clerks})`)];
  return { message: `${nodes} nodes cannot staff ${parts.join(', ')}: ${needed} nodes are needed`, needed };
}
