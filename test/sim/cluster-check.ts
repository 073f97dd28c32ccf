// The linearizability check of a recorded cluster history against the namespace model,
// one ministry at a time (P-compositionality).
import { checkNamespaceByMinistry, type NsOperation } from '../support/namespace-model.js';
import type { HistoryOp } from './cluster.sim.js';

export function checkHistory(history: HistoryOp[], subtrees: readonly string[] = ['/']): { ok: true } | { ok: false | 'unknown'; reason: string } {
  const verdict = checkNamespaceByMinistry(history as unknown as NsOperation[], subtrees, { timeoutMs: 60_000 });
  if (verdict.ok === true) return { ok: true };
  return { ok: verdict.ok, reason: verdict.reason };
}
