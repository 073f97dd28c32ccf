// A minister's migration duties (issue 16, thesis 3.4's splits and merges): at each tick, a
// leading minister proposes the entries its ministry owes the migrations in progress (fence,
// install, drop, unfence, forget: migration-core.ts decides which), each at most every
// MIGRATION_RETRY_MS, some only once this node's copy of the cluster log is known current. Cut
// out of ministry-core.ts; the answers it awaits go through the core's one table (MemberStep).

import type { MemberStep } from './ministry-core-types.js';
import { MinistryNamespace } from './ministry-namespace.js';
import { migrationDuties } from './migration-core.js';

/** A migration entry is proposed again after this long without effect. */
const MIGRATION_RETRY_MS = 1_000;

export class MigrationDuties {
  /** When each migration entry was last proposed (by kind and migration id). */
  private readonly proposed = new Map<string, number>();

  /** Propose what the ministry owes now (a minister that leads its group log, not fenced). */
  propose<R>(step: MemberStep<R>): void {
    const o = step.options;
    const record = step.record();
    if (o.role !== 'minister' || record.fenced || !o.log.leading()) return;
    const cluster = o.cluster();
    if (cluster.migrations.size === 0 && o.ns.migrations.size === 0) return;
    const now = step.now();
    for (const d of migrationDuties(record, cluster, o.ns.migrations)) {
      const key = `${d.entry.op}:${d.entry.id}`;
      if (now - (this.proposed.get(key) ?? -Infinity) < MIGRATION_RETRY_MS) continue;
      this.proposed.set(key, now);
      const propose = (): void => {
        step.emit({ kind: 'propose', id: 0, payload: MinistryNamespace.encodeMigration(d.entry) });
      };
      if (!d.confirm) propose();
      else {
        // Still owed once this node's cluster log copy is known current?
        step.confirmClusterLog((ok) => {
          if (ok && migrationDuties(step.record(), o.cluster(), o.ns.migrations).some((x) => x.entry.op === d.entry.op && x.entry.id === d.entry.id)) propose();
        });
      }
    }
  }
}
