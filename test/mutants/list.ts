// Planted bugs (issue 11) for `npm run mutants`: each is a small edit of the source (exact text
// to find, its replacement: the runner fails loudly when the text is not there, so this list
// stays in step with the code) and the CI test files that must catch it. `sims` names the
// seed-driven simulations (`npm run sim -- NAME`) that are meant to catch it, for measuring how
// many seeds it takes (`npm run mutants -- --sim`).

export interface Edit {
  file: string;
  find: string;
  replace: string;
}

export interface Mutant {
  id: string;
  /** What the planted bug breaks. */
  what: string;
  edits: Edit[];
  /** Test files of `npm test` that must fail with the mutant in (run in this order). */
  tests: string[];
  /** Simulations (test/sim/NAME.sim.ts) meant to catch it. */
  sims: string[];
}

const PRESIDENT = 'src/actors/president-core.ts';
const MINISTRY = 'src/actors/ministry-core.ts';
const CORE = 'src/raft/core.ts';
const NODE = 'src/actors/node-core.ts';

export const MUTANTS: Mutant[] = [
  {
    id: 'president-highest-commit',
    what: 'the president appoints the member with the highest commit index, not the most up-to-date log',
    edits: [{ file: PRESIDENT, find: '.sort((a, b) => b.lastTerm - a.lastTerm || b.lastIndex - a.lastIndex ||', replace: '.sort((a, b) => b.commit - a.commit ||' }],
    tests: ['test/actors/president-core.test.ts', 'test/sim/president-seeds.test.ts', 'test/cluster/failover.test.ts'],
    sims: ['president'],
  },
  {
    id: 'president-skip-fence',
    what: 'the president appoints a new minister without fencing the old ministry first',
    edits: [{ file: PRESIDENT, find: "    if (!m.fenced) {\n      return propose({ order: 'fence'", replace: "    if (false) {\n      return propose({ order: 'fence'" }],
    tests: ['test/actors/president-core.test.ts', 'test/sim/president-seeds.test.ts', 'test/cluster/failover.test.ts'],
    sims: ['president'],
  },
  {
    id: 'president-shrink-at-fence',
    what: 'the president re-appoints a fenced ministry with only the members that answered (the committed entries may then sit on a minority)',
    edits: [{ file: PRESIDENT, find: 'const clerks = members.filter((id) => id !== best.id);', replace: 'const clerks = atFence.filter((id) => id !== best.id);' }],
    tests: ['test/actors/president-core.test.ts', 'test/sim/president-seeds.test.ts', 'test/cluster/failover.test.ts'],
    sims: ['president'],
  },
  {
    id: 'president-restaff-early',
    what: 'the president changes a ministry\'s members before its minister has committed in its term',
    edits: [{ file: PRESIDENT, find: 'if (r?.groupTerm !== m.term || r.commitTerm !== m.term) return null;', replace: 'if (r?.groupTerm !== m.term) return null;' }],
    tests: ['test/actors/president-core.test.ts', 'test/cluster/failover.test.ts', 'test/sim/president-seeds.test.ts'],
    sims: ['president'],
  },
  {
    id: 'subtree-delete-no-fence-quorum',
    what: 'a subtree delete dissolves a ministry once any member holds the fence term, not a majority',
    edits: [{ file: NODE, find: 'return atFence * 2 <= members.length;', replace: 'return atFence === 0;' }],
    tests: ['test/actors/node-core.test.ts'],
    sims: [],
  },
  {
    id: 'node-serves-unformed',
    what: 'a node serves a path of a static ministry it has not seen formed yet',
    edits: [{ file: NODE, find: '    if (forming) {', replace: '    if (false) {' }],
    tests: ['test/actors/node-core.test.ts'],
    sims: [],
  },
  {
    id: 'lease-write-no-wait',
    what: 'a write lease is granted without waiting for the revoked reads to end',
    edits: [{ file: 'src/actors/lease-reads.ts', find: '    if (conflicting.length === 0 && notBefore === -Infinity) {\n      this.revoked(done, 0);', replace: '    if (true) {\n      this.revoked(done, 0);' }],
    tests: ['test/actors/lease-core.test.ts', 'test/sim/leases-seeds.test.ts', 'test/cluster/leases.test.ts'],
    sims: ['leases'],
  },
  {
    id: 'lease-no-drift',
    what: "members treat a write lease as over at its holder's nominal expiry, without the drift allowance",
    edits: [{ file: 'src/actors/leases.ts', find: 'return l.since + l.ttlMs + maxDriftMs;', replace: 'return l.since + l.ttlMs;' }],
    tests: ['test/cluster/leases.test.ts', 'test/sim/leases-seeds.test.ts'],
    sims: ['leases'],
  },
  {
    id: 'clerk-skip-ryw',
    what: "a clerk answers a read without waiting to apply the client's last seen index (read your writes)",
    edits: [{ file: MINISTRY, find: '    if (this.log.applied >= req.lastSeen) return this.readApplied(req, op, reply);', replace: '    if (true) return this.readApplied(req, op, reply);' }],
    tests: ['test/actors/ministry-core.test.ts', 'test/sim/cluster-seeds.test.ts', 'test/sim/president-seeds.test.ts', 'test/cluster/scenarios.test.ts'],
    sims: ['cluster', 'president'],
  },
  {
    id: 'linearizable-skip-readindex',
    what: 'a linearizable read is served without a ReadIndex',
    edits: [{ file: MINISTRY, find: '    if (!req.linearizable) return this.serveRead(req, op, reply);', replace: '    if (true) return this.serveRead(req, op, reply);' }],
    tests: ['test/actors/ministry-core.test.ts', 'test/sim/cluster-seeds.test.ts', 'test/sim/president-seeds.test.ts', 'test/cluster/scenarios.test.ts'],
    sims: ['cluster', 'president'],
  },
  {
    id: 'rifl-no-saved-result',
    what: "a retried change is applied again instead of getting its saved result (exactly-once, RIFL)",
    edits: [
      { file: 'src/fs/namespace.ts', find: 'const saved = rec.results.get(op.seq);', replace: 'const saved = undefined as OpResult | undefined;' },
      { file: MINISTRY, find: 'const saved = this.ns.completed(req.clientId, req.seq, withStat(op));', replace: 'const saved = undefined as ClientOutcome | undefined;' },
    ],
    tests: ['test/actors/ministry-core.test.ts', 'test/sim/cluster-seeds.test.ts', 'test/sim/president-seeds.test.ts'],
    sims: ['cluster', 'president'],
  },
  {
    id: 'raft-truncate-matching',
    what: 'a follower truncates its log from the first entry of every append, even entries that match',
    edits: [{ file: CORE, find: 'const conflict = this.log.findConflict(entries);', replace: 'const conflict = entries.length > 0 ? entries[0]!.index : 0;' }],
    tests: ['test/sim/raft-seeds.test.ts'],
    sims: ['raft'],
  },
  {
    id: 'raft-ack-before-fsync',
    what: 'a follower acknowledges appended entries before they are synced',
    edits: [{ file: 'src/raft/shell.ts', find: "const EARLY = new Set<string>(['govfs.raft.AppendEntries',", replace: "const EARLY = new Set<string>(['govfs.raft.AppendResponse', 'govfs.raft.AppendEntries'," }],
    tests: ['test/sim/raft-seeds.test.ts'],
    sims: ['raft'],
  },
  {
    id: 'raft-commit-old-term',
    what: "a leader commits an earlier term's entry by counting replicas (Raft figure 8)",
    edits: [{ file: CORE, find: 'if (n <= this.log.committed || this.log.term(n) !== this.term) return;', replace: 'if (n <= this.log.committed) return;' }],
    tests: ['test/raft/figure8.test.ts', 'test/sim/raft-seeds.test.ts'],
    sims: ['raft'],
  },
  {
    id: 'raft-vote-stale-log',
    what: 'a node grants its vote to a candidate whose log is behind its own',
    edits: [{ file: CORE, find: 'const upToDate = this.log.isUpToDate(m.lastIndex, m.lastTerm);', replace: 'const upToDate = true;' }],
    tests: ['test/sim/raft-seeds.test.ts'],
    sims: ['raft'],
  },
  {
    id: 'xrename-reads-unlocked',
    what: 'a name a rename across ministries holds is read before the decision applies (both names, or neither, show)',
    edits: [{ file: 'src/actors/rename-ledger.ts', find: "if (isWithin(path, name) || (op === 'ls' && path === parent)) return busy(op, path, { name, txid });", replace: 'if (parent === txid) return busy(op, path, { name, txid });' }],
    tests: ['test/actors/rename-ledger.test.ts', 'test/cluster/cross-rename.test.ts', 'test/sim/cluster-seeds.test.ts'],
    sims: ['cluster'],
  },
  {
    id: 'xrename-second-decision',
    what: 'a second decision on a rename across ministries replaces the first (a resent Begin decides twice)',
    edits: [{ file: 'src/actors/cluster-state.ts', find: 'if (this.crossRenames.has(d.txid)) return', replace: 'if (d.txid === undefined) return' }],
    tests: ['test/actors/rename-core.test.ts', 'test/sim/cluster-seeds.test.ts'],
    sims: ['cluster'],
  },
  {
    id: 'posix-no-sticky',
    what: 'anyone who may write a sticky directory removes or renames entries of others in it (issue 18)',
    edits: [{ file: 'src/fs/access.ts', find: 'if ((dir.mode & S_ISVTX) === 0 || c.uid === 0', replace: 'if (true || c.uid === 0' }],
    tests: ['test/fs/namespace-posix.test.ts', 'test/support/namespace-model.test.ts'],
    sims: ['cluster'],
  },
  {
    id: 'posix-no-search-check',
    what: 'a path is resolved without search permission on its directories (issue 18)',
    edits: [{ file: 'src/fs/namespace.ts', find: '      if (as.uid !== 0) dirAccess(this.tree, node, as, X_OK, op, path, rel, i);', replace: '' }],
    tests: ['test/fs/namespace-posix.test.ts', 'test/support/namespace-model.test.ts'],
    sims: ['cluster'],
  },
];
