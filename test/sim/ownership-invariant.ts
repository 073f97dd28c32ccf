// Per-step invariant of the cluster simulation: no ministry applies a change outside its
// subtree. Every change a member applied (a client change or a lease grant: what its log
// holds, successful or not) must name only paths its ministry owns, as far as the whole
// run has shown.
//
// Who owns a path: the ministry of the longest subtree containing it among "/" and the
// configured static subtrees, less those a subtree delete has dissolved (then the ministry
// above owns it). A static subtree counts as its own from the start, also before its ministry
// forms: until a node has seen it formed it must not serve anything of it. Dissolutions are
// learnt from the nodes' copies of the cluster state (a subtree formed and no longer served
// there) and never forgotten, so a node whose copy lags does not hide one. A ministry only
// gains paths this way, so an entry that was in its subtree when proposed still is when any
// member applies it, however late (a restart replays its log). Members of a dissolved ministry
// are not checked: they may still apply what their log committed before the fence.
//
// A member applies at most AppliedChanges.KEPT changes between two checks, except when it
// replays its log at a restart; changes that went by unseen are counted in `unseen`.

import type { Cluster } from '../../src/cluster.js';
import type { ClusterState } from '../../src/actors/cluster-state.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import { AppliedChanges } from '../../src/actors/ministry-namespace.js';
import { isValidPath, isWithin } from '../../src/fs/path.js';

/** The paths an applied log entry names (the decoded entry, as AppliedChanges keeps it). */
export function changedPaths(op: unknown): string[] {
  const o = op as { op?: unknown; body?: unknown; path?: unknown; from?: unknown; to?: unknown } | null;
  if (o === null || typeof o !== 'object') return [];
  if (o.op === 'client') return changedPaths(o.body);
  // A rename across ministries: each half names its own side (its end, what the ledger holds).
  if (o.op === 'xrename.out') return typeof o.from === 'string' ? [o.from] : [];
  if (o.op === 'xrename.in') return typeof o.to === 'string' ? [o.to] : [];
  if (o.op === 'xrename.end') return [];
  return [o.path, o.from, o.to].filter((p): p is string => typeof p === 'string');
}

export interface OwnershipWatch {
  /** Run on every step (push onto `sim.checks`). */
  check(): void;
  /** Changes checked so far, and changes a member applied that went by between checks. */
  readonly counts: { checked: number; unseen: number };
}

/** Watch every node of `cluster`; `statics` are its configured static subtrees. */
export function watchOwnership(cluster: Cluster, statics: readonly string[], violate: (msg: string) => void): OwnershipWatch {
  const sim = cluster.sim!;
  const dissolved = new Set<string>();
  /** Per node, the cluster log index its state was last read at. */
  const readAt = new Map<string, number>();
  /** Per member's change ring (a new one per role actor), the next change to check. */
  const next = new WeakMap<AppliedChanges, number>();
  const counts = { checked: 0, unseen: 0 };
  const subtrees = ['/', ...statics];

  const ownerOf = (path: string): string => {
    let best = '/';
    for (const s of subtrees) if (s.length > best.length && !dissolved.has(s) && isWithin(path, s)) best = s;
    return best;
  };

  const learnDissolutions = (name: string): void => {
    const cell = sim.host(name).runtime.cells.get(`/${name}`);
    const state = (cell?.behaviour as { inspect?: () => Readonly<ClusterState> } | undefined)?.inspect?.();
    if (!state || readAt.get(name) === state.applied) return;
    readAt.set(name, state.applied);
    for (const s of state.formed) {
      if (dissolved.has(s)) continue;
      let live = false;
      for (const m of state.ministries.values()) if (m.subtree === s) live = true;
      if (!live) dissolved.add(s);
    }
  };

  const checkMember = (name: string, info: MinistryInspection): void => {
    const ring = info.applied;
    let n = next.get(ring) ?? 0;
    const oldest = ring.count - AppliedChanges.KEPT;
    if (n < oldest) {
      counts.unseen += oldest - n;
      n = oldest;
    }
    for (; n < ring.count; n++) {
      const change = ring.at(n);
      if (change === undefined) {
        counts.unseen++;
        continue;
      }
      counts.checked++;
      if (dissolved.has(info.subtree)) continue;
      for (const path of changedPaths(change.op)) {
        // A malformed path is refused by the namespace itself (EINVAL): it changes nothing.
        if (!isValidPath(path)) continue;
        const owner = ownerOf(path);
        if (owner !== info.subtree) {
          violate(`${name}, a member of the ministry of ${info.subtree}, applied ${JSON.stringify(change.op).slice(0, 160)} at index ${change.index}: ${path} belongs to the ministry of ${owner}`);
        }
      }
    }
    next.set(ring, n);
  };

  return {
    counts,
    check(): void {
      // A node whose code did not run since the last check has nothing new to show.
      const touched = sim.touchedNames();
      const names = touched === null ? cluster.nodeIds : [...touched].filter((n) => cluster.nodeIds.includes(n));
      for (const name of names) if (sim.host(name).up) learnDissolutions(name);
      for (const name of names) {
        const host = sim.host(name);
        if (!host.up) continue;
        const cell = host.runtime.cells.get(`/${name}/role`);
        const info = (cell?.behaviour as { inspect?: () => MinistryInspection | null } | undefined)?.inspect?.();
        if (info) checkMember(name, info);
      }
    },
  };
}
