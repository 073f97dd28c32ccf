// The linearizability check of a recorded cluster history against ONE model of the whole
// namespace (namespace-model.ts, WholeNsSpec): every ministry's tree in one state, so that a
// rename across ministries is one atomic step, never the old and the new name at once, nor
// neither. A history without a rename across ministries is checked per ministry, as before: the
// same verdict, found far faster (the write balancing half of the balance sim has thousands of
// operations, too many for one model within the budget on a loaded machine).
import { checkNamespaceByMinistry, checkWholeNamespace, ministryOf, type NsOperation } from '../support/namespace-model.js';
import type { HistoryOp } from './cluster.sim.js';

// `subtrees`: every ministry's subtree root at the start of the run; `survivors`: those whose
// ministry was still there at the end. `unchecked` counts the subtree deletes left out (their
// outcome unknown, and a survivor says they did not happen).
export function checkHistory(history: HistoryOp[], subtrees: readonly string[], survivors?: readonly string[]): { ok: true; unchecked: number } | { ok: false | 'unknown'; reason: string } {
  const ops = history as unknown as NsOperation[];
  const across = ops.some((o) => 'from' in o.input && ministryOf(o.input.from, subtrees) !== ministryOf(o.input.to, subtrees));
  const check = across ? checkWholeNamespace : checkNamespaceByMinistry;
  const verdict = check(ops, subtrees, { timeoutMs: 60_000, ...(survivors ? { survivors } : {}) });
  if (verdict.ok === true) return { ok: true, unchecked: verdict.unchecked ?? 0 };
  return { ok: verdict.ok, reason: verdict.reason };
}
