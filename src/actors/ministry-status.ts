// A ministry member's reports to its node (ministry.ts is the shell that calls these): its
// status with its load and, on a minister, its chunk summary, sent only when it changed; the
// load it counts from its requests; and what counts as "the same" load, so that an idle
// member's wobbling CPU sends nothing.

import type { RaftShell } from '../raft/shell.js';
import type { MinistryNamespace } from './ministry-namespace.js';
import type { NodeConfig } from './node-config.js';
import { DEFAULT_CHUNK_REPLICAS } from './layouts.js';
import type { Context } from '../runtime/types.js';
import type { ClientOp } from '../fs/requests.js';
import { LOAD_EVERY_MS, LoadMeter, popularityHalfLife, type MemberLoad } from './load.js';

export interface RoleStatus {
  role: 'minister' | 'clerk';
  ministry: string;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  lastTerm: number;
  /** Term of the entry at the commit index: the appointment's term once the minister has
   * committed in it (a majority of the members then hold every committed entry). */
  commitTerm: number;
  caughtUp: boolean;
  leading: boolean;
  /** This member's load as last sampled (every loadEveryMs), for the president's probes. */
  load?: MemberLoad;
  /** A minister's chunks, sampled with its load (issue 17; layouts.ts summary). */
  chunks?: { chunks: number; short: number; holders: Map<string, number> };
}

/** Reports this member's status with its load; a minister's with its chunk summary too,
 * recomputed as often as its load is sampled. */
export function statusReporter(args: { config: NodeConfig; role: 'minister' | 'clerk' }, ns: MinistryNamespace, raft: () => RaftShell, ministry: () => string, loads: ReturnType<typeof loadKeeper>, short: () => number | undefined): (ctx: Context) => void {
  const { config } = args;
  let chunks: RoleStatus['chunks'];
  let chunksAt = -Infinity;
  let last: RoleStatus | undefined;
  return (ctx) => {
    const now = ctx.clock.now();
    if (args.role === 'minister' && now - chunksAt >= (config.loadEveryMs ?? LOAD_EVERY_MS)) {
      chunksAt = now;
      chunks = ns.layouts.summary(config.chunkReplicas ?? DEFAULT_CHUNK_REPLICAS);
      // Re-replication's count also takes replicas on down, removed or damaged stores as short.
      chunks.short = Math.max(chunks.short, short() ?? 0);
    }
    const status = roleStatus(raft(), args.role, ministry(), loads.current, chunks);
    // Only a change goes to the node (a new load sample or chunk summary is one): an idle
    // member's status stays the same tick after tick, and each report was an actor turn.
    if (last && sameStatus(last, status)) return;
    last = status;
    ctx.parent?.tell({ type: 'node.role-status', status });
  };
}

function sameStatus(a: RoleStatus, b: RoleStatus): boolean {
  return a.role === b.role && a.ministry === b.ministry && a.term === b.term && a.commit === b.commit && a.applied === b.applied && a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm && a.commitTerm === b.commitTerm && a.caughtUp === b.caughtUp && a.leading === b.leading && sameLoad(a.load, b.load) && sameChunks(a.chunks, b.chunks);
}

/** Load samples that tell the president nothing new: an idle host's CPU wobbles by a point or
 * two and decaying rates creep towards zero, and each new sample object was a status message
 * (a turn on the node, and a report on its way to the president) every LOAD_EVERY_MS. */
export function sameLoad(a: MemberLoad | undefined, b: MemberLoad | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.hot.length !== b.hot.length || !near(a.cpu, b.cpu, CPU_TOLERANCE) || !nearRate(a.readsPerSec, b.readsPerSec) || !nearRate(a.writesPerSec, b.writesPerSec)) return false;
  return a.hot.every((h, i) => h.path === b.hot[i]!.path && nearRate(h.readsPerSec, b.hot[i]!.readsPerSec) && nearRate(h.writesPerSec, b.hot[i]!.writesPerSec));
}

/** Host CPU (0..1) closer than this is the same load; the balancer acts on tens of points. */
const CPU_TOLERANCE = 0.02;

function near(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance;
}

/** Request rates (per second) within half a request or 5% of each other are the same. */
function nearRate(a: number, b: number): boolean {
  return near(a, b, 0.5 + 0.05 * Math.max(Math.abs(a), Math.abs(b)));
}

function sameChunks(a: RoleStatus['chunks'], b: RoleStatus['chunks']): boolean {
  if (a === b) return true;
  if (!a || !b || a.chunks !== b.chunks || a.short !== b.short || a.holders.size !== b.holders.size) return false;
  for (const [node, n] of a.holders) if (b.holders.get(node) !== n) return false;
  return true;
}

/** This member's load for the president (thesis 3.4): its requests counted as they come,
 * sampled with the host's CPU every `everyMs`; `served` lists the subtrees the ministries serve
 * (the cluster map), so that what was split off this one no longer counts as its load. */
export function loadKeeper(subtree: string, everyMs: number, served: () => readonly string[] = () => []): { request(op: ClientOp, now: number): void; tick(ctx: Context): void; readonly current: MemberLoad | undefined } {
  const meter = new LoadMeter(subtree, { halfLifeMs: popularityHalfLife(everyMs) });
  let current: MemberLoad | undefined;
  let sampledAt = -Infinity;
  return {
    request(op, now) {
      // (A rename or link counts in its source's directory.)
      meter.request('path' in op ? op.path : op.from, op.op === 'ls' || op.op === 'stat' || op.op === 'readlink' || op.op === 'layout-get' ? 'read' : 'write', op.op === 'ls', now);
    },
    tick(ctx) {
      const now = ctx.clock.now();
      if (now - sampledAt < everyMs) return;
      sampledAt = now;
      meter.exclude(served(), now);
      current = meter.sample(now, ctx.clock.busy());
    },
    get current() {
      return current;
    },
  };
}

/** This member's status for the node, checked every tick: so the shell's cheap accessors,
 * not its full status() (an allocation-heavy copy). */
function roleStatus(raft: RaftShell, role: 'minister' | 'clerk', ministry: string, load: MemberLoad | undefined, chunks: RoleStatus['chunks']): RoleStatus {
  const lastIndex = raft.lastIndex;
  return {
    role,
    ministry,
    term: raft.softState().term,
    commit: raft.commitIndex,
    applied: raft.applied,
    lastIndex,
    lastTerm: raft.termAt(lastIndex) ?? 0,
    commitTerm: raft.termAt(raft.commitIndex) ?? 0,
    caughtUp: raft.caughtUp(),
    leading: raft.softState().role === 'leader',
    load,
    chunks,
  };
}
