// The rename host (issue 16): what the driver of renames across ministries (rename-core.ts, a
// president-coordinated two-phase commit) may do through a ministry member's core (thesis
// 3.2-3.3: only the leading minister proposes to the group log). Its proposals are awaited in
// the core's one table of pending answers (MemberStep), like a client's change. Cut out of
// ministry-core.ts so that the core reads as requests, reads and changes.

import type { MemberStep } from './ministry-core-types.js';
import type { Outcome } from './ministry-namespace.js';
import type { RenameHost } from './rename-core.js';

/** The host of `step`'s core, made once: every call reads the core as it is then. */
export function renameHost<R>(step: MemberStep<R>): RenameHost<R> {
  const o = step.options;
  const log = o.log;
  return {
    get now() {
      return step.now();
    },
    get ministry() {
      return step.record().id;
    },
    ns: o.ns,
    leaseWaitMs: o.handoverWaitMs ?? 0,
    // Settled, not only leading: a new minister that has not applied all its predecessors
    // committed would see a transaction open that has ended (and whose decision may be
    // forgotten), and begin it again.
    leading: () => o.role === 'minister' && !step.record().fenced && log.settled(),
    cluster: () => o.cluster(),
    applied: () => log.applied,
    propose: (payload, k) => {
      const id = step.await((r) => {
        if (r.kind !== 'proposed') return;
        if (!r.result.ok) return k(null);
        const { index, term } = r.result;
        const applied = step.await((a) => {
          if (a.kind !== 'apply-outcome') return;
          const out = a.outcome.ok ? (a.outcome.result as Outcome) : null;
          k(out?.ok ? { index, value: out.value } : null);
        });
        step.emit({ kind: 'when-applied', id: applied, index, term });
      });
      step.emit({ kind: 'propose', id, payload });
    },
    begin: (msg) => step.emit({ kind: 'rename-begin', msg }),
    reply: (to, answer) => step.emit({ kind: 'reply', to, answer }),
    vote: (to, vote) => step.emit({ kind: 'vote', to, vote }),
  };
}
