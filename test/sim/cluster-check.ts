// The linearizability check of a recorded cluster history against ONE model of the whole
// namespace (namespace-model.ts, WholeNsSpec): every ministry's tree in one state, so that a
// rename across ministries is one atomic step, never the old and the new name at once, nor
// neither.
import { checkWholeNamespace, type NsOperation } from '../support/namespace-model.js';
import type { HistoryOp } from './cluster.sim.js';

// `subtrees`: every ministry's subtree root at the start of the run; `survivors`: those whose
// ministry was still there at the end. `unchecked` counts the subtree deletes left out (their
// outcome unknown, and a survivor says they did not happen).
export function checkHistory(history: HistoryOp[], subtrees: readonly string[], survivors?: readonly string[]): { ok: true; unchecked: number } | { ok: false | 'unknown'; reason: string } {
  const verdict = checkWholeNamespace(history as unknown as NsOperation[], subtrees, { timeoutMs: 60_000, ...(survivors ? { survivors } : {}) });
  if (verdict.ok === true) return { ok: true, unchecked: verdict.unchecked ?? 0 };
  return { ok: verdict.ok, reason: verdict.reason };
}
