// The nemesis's checks of a history (history.ts), after the faults were healed:
//
// - linearizable per directory: the workload touches a few small directories, each inside one
//   ministry, and nothing else, so each directory (its setup mkdir, the operations on its
//   names, its listings) is an independent object (P-compositionality); each part is checked
//   with the project's checker (test/support/linearizability.ts) against the ministry's
//   namespace model (test/support/namespace-model.ts). Plain reads are checked as session
//   reads (read-your-writes, monotonic reads), linearizable ones as linearizable.
// - no acknowledged change lost, nothing applied twice: the final listing of every directory
//   (a linearizable ls after recovery) against each name's last acknowledged change, where no
//   other change of that name overlapped or followed it: a create (or rename to it) must have
//   left the name there (else: lost), an rm (or rename from it) must have left it gone (else:
//   it came back: a request applied twice, e.g. a retried create applied again after an rm).
//   The linearizability check sees the same final listings, and catches subtler cases.

import { checkLinearizable, type CheckResult } from '../support/linearizability.js';
import { ministryOf, namespaceModel, type NsInput, type NsOperation, type NsOutput, type NsState } from '../support/namespace-model.js';
import type { HistoryOp } from './history.js';

export interface Anomaly {
  kind: 'not-linearizable' | 'lost' | 'applied-twice' | 'check-timeout' | 'crash' | 'no-recovery' | 'final-read-failed' | 'lease-conflict' | 'lease-token';
  detail: string;
}

/** The directory an operation belongs to (see the header). */
export function dirOf(input: NsInput): string {
  if (input.op === 'ls' || input.op === 'mkdir') return input.path;
  const p = input.op === 'rename' || input.op === 'link' ? input.from : input.path;
  return p.slice(0, p.lastIndexOf('/')) || '/';
}

/** A history op as the checker's operation; null for reads whose outcome is unknown (they
 * constrain nothing). */
export function toOperation(op: HistoryOp): NsOperation | null {
  const isRead = op.input.op === 'ls' || op.input.op === 'stat';
  if (op.outcome === 'unknown' || op.outcome === 'pending') {
    if (isRead) return null;
    return { client: op.client, input: op.input, output: { ok: false, code: 'UNKNOWN' }, call: op.call, ret: Infinity };
  }
  const out: NsOperation = { client: op.client, input: op.input, output: op.output as NsOutput, call: op.call, ret: op.ret! };
  if (isRead && op.linearizable !== true) out.session = true;
  return out;
}

export interface LinearizabilityReport {
  parts: number;
  checked: number;
  failures: Anomaly[];
}

/** Check every directory's part; `subtrees` are the ministries' roots. */
/** The check's budget: 3 minutes, or 1 ms per operation for longer runs (an hour's history of
 * ~500k operations, with its unknown outcomes, takes a few minutes on a loaded 2-core machine). */
export function checkBudgetMs(operations: number): number {
  return Math.max(180_000, operations);
}

export function checkPerDirectory(history: readonly HistoryOp[], subtrees: readonly string[], timeoutMs = checkBudgetMs(history.length)): LinearizabilityReport {
  const parts = new Map<string, NsOperation[]>();
  let checked = 0;
  for (const op of history) {
    const o = toOperation(op);
    if (!o) continue;
    checked++;
    const d = dirOf(op.input);
    let part = parts.get(d);
    if (!part) parts.set(d, (part = []));
    part.push(o);
  }
  const failures: Anomaly[] = [];
  const deadline = Date.now() + timeoutMs;
  for (const [dir, part] of parts) {
    const root = ministryOf(dir, subtrees) ?? '/';
    const r: CheckResult<NsState, NsInput, NsOutput> = checkLinearizable(namespaceModel({ root }), part, { timeoutMs: Math.max(1, deadline - Date.now()) });
    if (r.ok === false) failures.push({ kind: 'not-linearizable', detail: `${dir} (ministry ${root}): ${r.reason}` });
    else if (r.ok === 'unknown') failures.push({ kind: 'check-timeout', detail: `${dir}: the linearizability search did not finish within ${timeoutMs} ms (${part.length} operations)` });
  }
  return { parts: parts.size, checked, failures };
}

/** The effect a successful mutation has on name `path`: 'present', 'absent', or null. */
function effectOn(input: NsInput, path: string): 'present' | 'absent' | null {
  switch (input.op) {
    case 'create':
      return input.path === path ? 'present' : null;
    case 'rm':
      return input.path === path ? 'absent' : null;
    case 'rename':
      if (input.from === input.to) return null;
      if (input.to === path) return 'present';
      if (input.from === path) return 'absent';
      return null;
    default:
      return null;
  }
}

/**
 * Final state against the history: for each name the workload touched, its last acknowledged
 * change that every other change of the name (of any outcome) came strictly before, against the
 * name's presence in `finalListing` (dir → names, from a linearizable ls after recovery).
 */
export function checkFinalState(history: readonly HistoryOp[], finalListing: ReadonlyMap<string, ReadonlySet<string>>): Anomaly[] {
  const names = new Set<string>();
  for (const op of history) {
    const i = op.input;
    if (i.op === 'create' || i.op === 'rm') names.add(i.path);
    if (i.op === 'rename') names.add(i.from).add(i.to);
  }
  const anomalies: Anomaly[] = [];
  for (const path of [...names].sort()) {
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    const listing = finalListing.get(dir);
    if (!listing) continue;
    // Changes that may have affected `path`: successful or unknown mutations naming it.
    const touching = history.filter((op) => op.outcome !== 'fail' && effectOn(op.input, path) !== null);
    const acked = touching.filter((op) => op.outcome === 'ok');
    if (acked.length === 0) continue;
    const last = acked.reduce((a, b) => (b.ret! > a.ret! ? b : a));
    // Any other change not strictly before it makes the final state ambiguous.
    if (touching.some((op) => op !== last && (op.outcome !== 'ok' || op.ret! >= last.call))) continue;
    const want = effectOn(last.input, path)!;
    const name = path.slice(dir.length === 1 ? 1 : dir.length + 1);
    const present = listing.has(name);
    if (want === 'present' && !present) anomalies.push({ kind: 'lost', detail: `${path}: acknowledged ${describe(last)} at ${last.ret!.toFixed(0)} ms is lost: the final listing of ${dir} lacks it` });
    if (want === 'absent' && present) anomalies.push({ kind: 'applied-twice', detail: `${path}: acknowledged ${describe(last)} at ${last.ret!.toFixed(0)} ms, nothing changed it after, yet the final listing of ${dir} has it (a request applied twice?)` });
  }
  return anomalies;
}

function describe(op: HistoryOp): string {
  const i = op.input;
  return i.op === 'rename' ? `rename ${i.from} -> ${i.to} by ${op.client}` : `${i.op} ${'path' in i ? i.path : ''} by ${op.client}`;
}

/** Percentile (0-100) of `xs` (nearest rank); null for an empty list. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
