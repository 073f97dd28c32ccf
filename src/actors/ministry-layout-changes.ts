// The minister's layout decisions (issue 17; the data plane beside thesis 3.3's replicated
// namespace): where a file's new chunks go, and which replica replaces a failed one. The minister
// decides from its applied state (the core has settled it), logs the decision, and answers the
// client with the layout once it applied. Not exactly-once: applying is idempotent (a placed
// chunk stays; a replacement applies only over its version). Cut out of ministry-core.ts; the
// answers it awaits go through the core's one table (MemberStep).

import { FsError } from '../fs/errors.js';
import type { ClientOp, FileLayout } from '../fs/requests.js';
import type { MemberStep, MinistryRequest } from './ministry-core-types.js';
import type { LayoutEntry } from './ministry-entry.js';
import { MinistryNamespace } from './ministry-namespace.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_REPLICAS } from './layouts.js';

export type LayoutOp = Extract<ClientOp, { op: 'layout-place' | 'layout-replace' }>;

export class LayoutDecisions {
  /** Numbers the chunk ids this minister makes (with its term and clock). */
  private chunkSeq = 0;

  /** Decide `op` on the ministry's current layouts, log it, answer once it applied. */
  decide<R>(step: MemberStep<R>, req: MinistryRequest, op: LayoutOp, reply: R): void {
    const o = step.options;
    const record = step.record();
    const now = step.now();
    const data = o.data ?? { chunkBytes: DEFAULT_CHUNK_BYTES, replicas: DEFAULT_CHUNK_REPLICAS };
    const policy = { nodes: o.cluster().nodes, replicas: data.replicas, chunkBytes: data.chunkBytes };
    const stem = `${record.id}-${record.term}-${Math.floor(now).toString(36)}${(++this.chunkSeq).toString(36)}`.replace(/[^A-Za-z0-9._-]/g, '_');
    let entry: LayoutEntry | FileLayout | null;
    try {
      const refused = op.op === 'layout-replace' && op.newChunkId !== '' ? (o.copies?.refuseCommit(op.newChunkId, now) ?? null) : null;
      if (refused !== null) throw new FsError('EAGAIN', `replace a chunk of ${op.path}: ${refused}`, op.path);
      entry = o.ns.layoutChange(op, policy, stem);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      return step.fail(reply, e.code, e.message, op.path);
    }
    const answer = (): void => {
      try {
        const layout = o.ns.layoutOf(op.path);
        step.answer(reply, { ok: true, value: op.op === 'layout-place' ? { result: 'layoutPlace', layoutPlace: layout } : { result: 'layoutReplace', layoutReplace: layout } }, o.log.applied);
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        step.fail(reply, e.code, e.message, op.path);
      }
    };
    if (!entry) return answer();
    if (!('op' in entry)) {
      // A proposed copy: collected if no commit names it in time (uncommitted-copies.ts).
      const proposal = op.op === 'layout-replace' ? entry.chunks.find((c) => c.index === op.index) : undefined;
      if (proposal) o.copies?.note(proposal, now);
      return step.answer(reply, { ok: true, value: { result: 'layoutReplace', layoutReplace: entry } }, o.log.applied);
    }
    const id = step.await((r) => {
      if (r.kind !== 'proposed') return;
      if (!r.result.ok) return step.fail(reply, 'EAGAIN', `minister of ${record.subtree} cannot take changes now (${r.result.reason}): retry`, req.path, step.self());
      const applied = step.await((a) => (a.kind === 'apply-outcome' && a.outcome.ok ? answer() : step.fail(reply, 'EAGAIN', `layout change lost to a new minister: retry`, req.path, step.self())));
      step.emit({ kind: 'when-applied', id: applied, index: r.result.index, term: r.result.term });
    });
    step.emit({ kind: 'propose', id, payload: MinistryNamespace.encodeLayout(entry) });
  }
}
