// The linearizability check of a recorded cluster history against the namespace model,
// one ministry at a time (P-compositionality).
import { checkNamespaceByMinistry, type NsOperation } from '../support/namespace-model.js';
import type { HistoryOp } from './cluster.sim.js';

// `subtrees`: every ministry's subtree root at the start of the run; `survivors`: those whose
// ministry was still there at the end. Operations go to the ministry that served them
// (namespace-model.ts, splitByMinistry); `unchecked` counts those that overlapped a subtree
// delete of their ministry, which either side may have served.
export function checkHistory(history: HistoryOp[], subtrees: readonly string[], survivors?: readonly string[]): { ok: true; unchecked: number } | { ok: false | 'unknown'; reason: string } {
  const verdict = checkNamespaceByMinistry(history as unknown as NsOperation[], subtrees, { timeoutMs: 60_000, ...(survivors ? { survivors } : {}) });
  if (verdict.ok === true) return { ok: true, unchecked: verdict.unchecked ?? 0 };
  return { ok: verdict.ok, reason: verdict.reason };
}
