import { decodeMinistryEntry, encodeMinistryEntry } from '../../src/actors/ministry-entry.js';
import { describe, expect, it } from 'vitest';
import { ClusterState, NO_MINISTER, type MinistryRecord } from '../../src/actors/cluster-state.js';
import { MinistryNamespace, type Outcome } from '../../src/actors/ministry-namespace.js';
import {
  CLIENT_TTL_MS,
  MinistryCore,
  READ_WAIT_MS,
  type GroupLogView,
  type MinistryAnswer,
  type MinistryEffect,
  type MinistryRequest,
} from '../../src/actors/ministry-core.js';
import type { ClientOp } from '../../src/fs/requests.js';

// The ministry's pure core (src/actors/ministry-core.ts), driven directly: no runtime, no
// simulator. One test per rule; each quotes the sentence of the thesis (GovFS, sections 3-4) it
// checks, as etcd's raft tests quote the Raft paper. Rules the thesis leaves open quote
// docs/DESIGN.md ("Consistency for clients") instead, and say so.

/** The group log as the core sees it: the test decides what is applied, committed, leading. */
class FakeLog implements GroupLogView {
  applied = 0;
  lastIndex = 0;
  leader = true;
  caught = true;
  readonly terms = new Map<number, number>();
  readonly committedTerms = new Map<number, number>();
  termAt(index: number): number | undefined {
    return this.terms.get(index);
  }
  caughtUp(): boolean {
    return this.caught;
  }
  committed(index: number, term: number): boolean | 'unknown' {
    const t = this.committedTerms.get(index);
    return t === undefined ? 'unknown' : t === term;
  }
  leading(): boolean {
    return this.leader;
  }
  /** Whether it has applied an entry of its own term (GroupLogView.settled). */
  steady = true;
  settled(): boolean {
    return this.leader && this.steady;
  }
}

type Fx = MinistryEffect<string>;

/** A cluster of n1..n5 with the root ministry m0 (n1 minister, n2 and n3 clerks) and, when
 * `inner` is given, a ministry m1 for that subtree (n4, n5). */
function setup(opts: { role?: 'minister' | 'clerk'; inner?: string; fenced?: boolean } = {}) {
  const cluster = new ClusterState(['n1', 'n2', 'n3', 'n4', 'n5']);
  cluster.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: ['n2', 'n3'], clerksWanted: 2 }, 1);
  if (opts.inner) cluster.apply({ order: 'appoint', subtree: opts.inner, minister: 'n4', clerks: ['n5'], clerksWanted: 1 }, 2);
  const record: MinistryRecord = { ...cluster.ministries.get('m0')!, fenced: opts.fenced ?? false };
  const log = new FakeLog();
  const ns = new MinistryNamespace('/');
  const core = new MinistryCore<string>({ record, role: opts.role ?? 'minister', ns, log, cluster: () => cluster });
  let now = 1_000;
  const step = (input: Parameters<typeof core.step>[0], at = now): Fx[] => core.step(input, at);
  const request = (reply: string, op: ClientOp, req: Partial<MinistryRequest> = {}, at = now): Fx[] =>
    step(
      {
        kind: 'request',
        reply,
        op: { ok: true, op },
        req: { clientId: 'c1', seq: 1, acked: 0, path: 'path' in op ? op.path : op.from, lastSeen: 0, linearizable: false, ticketTo: '', mutation: !['ls', 'stat'].includes(op.op), ...req },
      },
      at,
    );
  /** Commit and apply a proposed entry at `index` of `term`, as the group log would. */
  const commit = (payload: Uint8Array, index: number, term = record.term): Outcome => {
    log.lastIndex = Math.max(log.lastIndex, index);
    log.terms.set(index, term);
    log.committedTerms.set(index, term);
    const r = ns.applyEntry(payload, index, now);
    log.applied = index;
    return r;
  };
  /** Put a change straight into the namespace (as if committed long ago). */
  let nextIndex = 1;
  const seed = (op: ClientOp, clientId = 'seeder', seq = nextIndex): void => {
    commit(MinistryNamespace.encodeEntry({ clientId, seq, acked: 0, op, now }), nextIndex++);
  };
  const tick = (ms: number): void => {
    now += ms;
  };
  return { core, log, ns, cluster, record, step, request, commit, seed, tick, now: () => now };
}

const replies = (fx: Fx[]): { to: string; answer: MinistryAnswer }[] => fx.flatMap((e) => (e.kind === 'reply' ? [{ to: e.to, answer: e.answer }] : []));
const only = <K extends Fx['kind']>(fx: Fx[], kind: K): Extract<Fx, { kind: K }> => {
  const found = fx.filter((e): e is Extract<Fx, { kind: K }> => e.kind === kind);
  expect(found, `one ${kind} effect in ${JSON.stringify(fx.map((e) => e.kind))}`).toHaveLength(1);
  return found[0]!;
};
const errorCode = (a: MinistryAnswer): string | undefined => (a.kind === 'error' ? a.error.code : a.kind === 'result' && !a.result.ok ? a.result.error.code : undefined);

describe('ministry core: namespace changes', () => {
  it('only the minister takes changes: "If the request modifies the namespace, such as write, create and delete, the client needs to contact the minister."', () => {
    const t = setup({ role: 'clerk' });
    const fx = t.request('r1', { op: 'create', path: '/f' });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    const [r] = replies(fx);
    expect(r!.to).toBe('r1');
    expect(errorCode(r!.answer)).toBe('EAGAIN');
    // It names its own ministry, so the client finds the minister.
    expect(r!.answer.kind === 'error' && r!.answer.redirect?.[0]?.minister).toBe('n1');
  });

  it('a fenced minister takes none: "clients should see no new entries of an old leader after assignment of a new leader."', () => {
    const t = setup({ fenced: true });
    const fx = t.request('r1', { op: 'create', path: '/f' });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    expect(errorCode(replies(fx)[0]!.answer)).toBe('EAGAIN');
  });

  it('the ticket goes out before the change commits: "Before committing the change the client gets the log index for the change."', () => {
    const t = setup();
    const proposed = only(t.request('r1', { op: 'create', path: '/f' }, { ticketTo: 'client-addr' }), 'propose');
    const fx = t.step({ kind: 'proposed', id: proposed.id, result: { ok: true, index: 7, term: t.record.term } });
    only(fx, 'flush-soon');
    const waiting = only(fx, 'when-applied');
    expect(waiting).toMatchObject({ index: 7, term: t.record.term });
    // Nothing committed yet, and no answer: but the ticket is ready to go.
    expect(replies(fx)).toHaveLength(0);
    const ticket = only(t.step({ kind: 'flush-tickets' }), 'ticket');
    expect(ticket.batch).toEqual({ to: 'client-addr', clientId: 'c1', term: t.record.term, seqs: [1], indexes: [7] });
  });

  it('pipelined changes of one client share one ticket message: "The log index is shared with the client before it is committed"', () => {
    const t = setup();
    let flushes = 0;
    for (const seq of [1, 2, 3]) {
      const p = only(t.request(`r${seq}`, { op: 'create', path: `/f${seq}` }, { seq, ticketTo: 'client-addr' }), 'propose');
      const fx = t.step({ kind: 'proposed', id: p.id, result: { ok: true, index: 10 + seq, term: t.record.term } });
      flushes += fx.filter((e) => e.kind === 'flush-soon').length;
    }
    expect(flushes).toBe(1);
    const tickets = t.step({ kind: 'flush-tickets' }).filter((e) => e.kind === 'ticket');
    expect(tickets).toHaveLength(1);
    expect(only(tickets, 'ticket').batch).toMatchObject({ seqs: [1, 2, 3], indexes: [11, 12, 13] });
    // Sent once: the next flush has nothing.
    expect(t.step({ kind: 'flush-tickets' })).toHaveLength(0);
  });

  it('the client is answered only once the change has applied: "Changes are only completed when they are written to half of the clerks."', () => {
    const t = setup();
    const p = only(t.request('r1', { op: 'mkdir', path: '/d' }), 'propose');
    const proposed = t.step({ kind: 'proposed', id: p.id, result: { ok: true, index: 1, term: t.record.term } });
    expect(replies(proposed)).toHaveLength(0);
    const w = only(proposed, 'when-applied');
    const result = t.commit(p.payload, 1);
    const [r] = replies(t.step({ kind: 'apply-outcome', id: w.id, outcome: { ok: true, result } }));
    expect(r).toEqual({ to: 'r1', answer: { kind: 'result', result: { ok: true, value: expect.anything() }, index: 1, term: t.record.term } });
    expect(t.ns.read({ op: 'stat', path: '/d' }, t.cluster).ok).toBe(true);
  });

  it('a change lost to a new minister is answered with its ticket: "If the minister goes down before acknowledging success the client verifies if the change happened using the log index."', () => {
    const t = setup();
    const p = only(t.request('r1', { op: 'create', path: '/f' }), 'propose');
    const w = only(t.step({ kind: 'proposed', id: p.id, result: { ok: true, index: 4, term: 9 } }), 'when-applied');
    const [r] = replies(t.step({ kind: 'apply-outcome', id: w.id, outcome: { ok: false, reason: 'leadershipLost', message: 'stopped leading' } }));
    expect(r!.answer).toMatchObject({ kind: 'error', error: { code: 'EAGAIN' }, index: 4, term: 9 });
  });

  it('any member tells whether a ticket committed: "on minister failure the client can check with a clerk to see if its log entry exists"', () => {
    const t = setup({ role: 'clerk' });
    t.log.committedTerms.set(4, 9);
    expect(t.core.ticketStatus(4, 9)).toBe('committed');
    // Another term's entry took the index: the change is void.
    expect(t.core.ticketStatus(4, 8)).toBe('lost');
    expect(t.core.ticketStatus(5, 9)).toBe('unknown');
  });

  it('a retry of an applied change gets its saved answer, with no new entry: "A minister can fail after the change was committed but before the client was informed of the success."', () => {
    const t = setup();
    const p = only(t.request('r1', { op: 'mkdir', path: '/d' }, { seq: 5 }), 'propose');
    t.commit(p.payload, 1);
    // The retry (say, to the next minister) of the same (client, seq).
    const fx = t.request('r2', { op: 'mkdir', path: '/d' }, { seq: 5 });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    const [r] = replies(fx);
    // Its original success, not EEXIST from applying it again.
    expect(r).toEqual({ to: 'r2', answer: { kind: 'result', result: { ok: true, value: expect.anything() }, index: 1 } });
  });

  it('a create that says noStat is answered without the stat, fresh or from its saved result; one that does not, with it (not in the thesis: the reply\'s shape)', () => {
    const t = setup();
    const createResult = (fx: Fx[]) => {
      const [r] = replies(fx);
      const a = r!.answer;
      return a.kind === 'result' && a.result.ok && a.result.value?.result === 'create' ? a.result.value.create : undefined;
    };
    const answer = (reply: string, op: ClientOp, seq: number, index: number) => {
      const p = only(t.request(reply, op, { seq }), 'propose');
      const w = only(t.step({ kind: 'proposed', id: p.id, result: { ok: true, index, term: t.record.term } }), 'when-applied');
      return createResult(t.step({ kind: 'apply-outcome', id: w.id, outcome: { ok: true, result: t.commit(p.payload, index) } }));
    };
    expect(answer('r1', { op: 'create', path: '/bare', noStat: true }, 1, 1)).toEqual({ version: 1, created: true });
    expect(answer('r2', { op: 'create', path: '/full' }, 2, 2)).toMatchObject({ version: 2, created: true, stat: { kind: 'file', size: 0, mode: 0o100644 } });
    // Retries: each as its request says, from the same saved result.
    expect(createResult(t.request('r3', { op: 'create', path: '/bare', noStat: true }, { seq: 1 }))).toEqual({ version: 1, created: true });
    expect(createResult(t.request('r4', { op: 'create', path: '/bare' }, { seq: 1 }))).toMatchObject({ version: 1, created: true, stat: { kind: 'file' } });
  });

  it('clients silent for the TTL are forgotten (not in the thesis; docs/DESIGN.md: "changes are exactly-once per client (RIFL: a client\'s sequence numbers and saved results survive failover)")', () => {
    const t = setup();
    // The first expiry round of a leading minister only starts the clock; one a tenth of the TTL later proposes.
    t.tick(CLIENT_TTL_MS);
    expect(t.step({ kind: 'tick' }).some((e) => e.kind === 'propose')).toBe(false);
    t.tick(CLIENT_TTL_MS / 10 - 1);
    expect(t.step({ kind: 'tick' }).some((e) => e.kind === 'propose')).toBe(false);
    t.tick(1);
    const p = only(t.step({ kind: 'tick' }), 'propose');
    expect(p.id).toBe(0);
    expect(decodeMinistryEntry(p.payload)).toMatchObject({ op: 'expireClients', ttlMs: CLIENT_TTL_MS });
    t.log.leader = false;
    t.tick(CLIENT_TTL_MS);
    expect(t.step({ kind: 'tick' }).some((e) => e.kind === 'propose')).toBe(false);
  });

  it('a malformed operation is refused, not proposed (not in the thesis; README: "the servers enforce the same rules whatever a client sends")', () => {
    const t = setup();
    const fx = t.step({ kind: 'request', reply: 'r1', op: { ok: false, message: 'malformed request: not JSON' }, req: { clientId: 'c1', seq: 1, acked: 0, path: '/x', lastSeen: 0, linearizable: false, ticketTo: '', mutation: true } });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    expect(replies(fx)[0]!.answer).toMatchObject({ kind: 'error', error: { code: 'EINVAL', path: '/x' } });
  });
});

describe('ministry core: reads', () => {
  it('a caught-up clerk serves reads: "A ministry\'s clerks handle metadata queries: issuing read capabilities and providing information about the file system tree."', () => {
    const t = setup({ role: 'clerk' });
    t.seed({ op: 'mkdir', path: '/d' });
    const fx = t.request('r1', { op: 'ls', path: '/' });
    expect(fx).toHaveLength(1);
    const [r] = replies(fx);
    expect(r!.answer).toMatchObject({ kind: 'result', result: { ok: true }, index: 1 });
    expect(JSON.stringify(r!.answer.kind === 'result' && r!.answer.result.ok && r!.answer.result.value)).toContain('"d"');
  });

  it('a clerk that is not caught up serves none: "a fresh clerk needs to know when it is up-to-date"', () => {
    const t = setup({ role: 'clerk' });
    t.log.caught = false;
    const [r] = replies(t.request('r1', { op: 'ls', path: '/' }));
    expect(r!.answer).toMatchObject({ kind: 'error', error: { code: 'EAGAIN' }, redirect: [{ id: 'm0' }] });
  });

  it('a read waits for the client\'s last seen index (not in the thesis; docs/DESIGN.md: "a client always sees its own changes (read your writes) and never goes back in time")', () => {
    const t = setup({ role: 'clerk' });
    const create = MinistryNamespace.encodeEntry({ clientId: 'c1', seq: 1, acked: 0, op: { op: 'create', path: '/mine' }, now: 0 });
    // The client's create committed at index 1 elsewhere; this clerk has not applied it yet.
    expect(t.request('r1', { op: 'stat', path: '/mine' }, { lastSeen: 1 })).toHaveLength(0);
    expect(t.core.waitingReads).toBe(1);
    t.commit(create, 1);
    const [r] = replies(t.step({ kind: 'applied' }));
    expect(r).toMatchObject({ to: 'r1', answer: { kind: 'result', result: { ok: true }, index: 1 } });
    // One that never applies gives up after READ_WAIT_MS, answered EAGAIN (try another member).
    expect(t.request('r2', { op: 'stat', path: '/mine' }, { lastSeen: 2 })).toHaveLength(0);
    expect(t.step({ kind: 'tick' }, t.now() + READ_WAIT_MS)).toHaveLength(0);
    expect(errorCode(replies(t.step({ kind: 'tick' }, t.now() + READ_WAIT_MS + 1))[0]!.answer)).toBe('EAGAIN');
  });

  it('a linearizable read is confirmed with the minister first (not in the thesis; docs/DESIGN.md: "A linearizable read (`linearizable: true`, `govfs ls --linearizable`) is first confirmed with the minister (ReadIndex): it sees every change committed before the call began.")', () => {
    const t = setup({ role: 'clerk' });
    const ri = only(t.request('r1', { op: 'ls', path: '/' }, { linearizable: true }), 'read-index');
    expect(replies(t.step({ kind: 'confirmed', id: ri.id, ok: true }))[0]!.answer).toMatchObject({ kind: 'result', result: { ok: true } });
    const again = only(t.request('r2', { op: 'ls', path: '/' }, { linearizable: true }), 'read-index');
    expect(errorCode(replies(t.step({ kind: 'confirmed', id: again.id, ok: false }))[0]!.answer)).toBe('EAGAIN');
  });

  it('a linearizable read over a mount also confirms the cluster log: "A client can not judge whether the node it got directions from has up to date and correct information."', () => {
    const t = setup({ role: 'clerk', inner: '/a' });
    const ri = only(t.request('r1', { op: 'ls', path: '/' }, { linearizable: true }), 'read-index');
    const cri = only(t.step({ kind: 'confirmed', id: ri.id, ok: true }), 'cluster-read-index');
    const [r] = replies(t.step({ kind: 'confirmed', id: cri.id, ok: true }));
    expect(r!.answer.kind === 'result' && r!.answer.result.ok && r!.answer.result.value).toMatchObject({ result: 'ls', ls: { entries: expect.arrayContaining([expect.objectContaining({ name: 'a' })]) } });
  });
});

describe('ministry core: ownership', () => {
  it('a path another ministry owns is redirected with the subtree map: "In the rare case the directions were incorrect this means an extra jump through an irrelevant ministry before getting correct information."', () => {
    const t = setup({ inner: '/a' });
    const fx = t.request('r1', { op: 'create', path: '/a/f' });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    const [r] = replies(fx);
    expect(r!.answer.kind).toBe('redirect');
    expect(r!.answer.kind === 'redirect' && r!.answer.redirect.map((m) => m.subtree).sort()).toEqual(['/', '/a']);
    // Its own paths it serves.
    expect(t.core.ownership('/b')).toBeNull();
  });
});

describe('ministry core: subtree delete', () => {
  const rmdir: ClientOp = { op: 'rmdir', path: '/x', recursive: true };

  /** Minister of '/', with /x/y served by m1, up to the president's answer. */
  function toPresident() {
    const t = setup({ inner: '/x/y' });
    t.seed({ op: 'mkdir', path: '/x' });
    const ri = only(t.request('r1', rmdir, { seq: 9 }), 'read-index');
    expect(t.core.deletingSubtree).toBe(true);
    const ask = only(t.step({ kind: 'confirmed', id: ri.id, ok: true }), 'subtree-delete');
    return { t, ask };
  }

  it('the minister asks the president to dissolve the ministries below: "The clients remove requests is forwarded by the minister to the *president*."', () => {
    const { t, ask } = toPresident();
    expect(ask).toMatchObject({ subtree: '/x', requester: 'm0' });
    // Until the president answers, no other change is taken (the directory must not change).
    expect(errorCode(replies(t.request('r2', { op: 'create', path: '/x/f' }, { seq: 10 }))[0]!.answer)).toBe('EAGAIN');
  });

  it('once dissolved, the ministry drops the directory: "Once it is committed the ministers hosting subtrees of the directory demote themselves to idle and Ministry_j drops the directory from its db"', () => {
    const { t, ask } = toPresident();
    t.cluster.apply({ order: 'dissolve', ministry: 'm1' }, 3);
    const p = only(t.step({ kind: 'subtree-deleted', id: ask.id, ok: true, reason: '', index: 3 }), 'propose');
    expect(t.core.deletingSubtree).toBe(false);
    expect(t.commit(p.payload, 2)).toMatchObject({ ok: true });
    expect(t.ns.read({ op: 'stat', path: '/x' }, t.cluster)).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
  });

  it('if the president cannot dissolve them, nothing is dropped: "The president \\blacksquare coordinates the removal by appending a command to the log."', () => {
    const { t, ask } = toPresident();
    const fx = t.step({ kind: 'subtree-deleted', id: ask.id, ok: false, reason: 'not the president', index: 0 });
    expect(fx.some((e) => e.kind === 'propose')).toBe(false);
    expect(errorCode(replies(fx)[0]!.answer)).toBe('EAGAIN');
    expect(t.core.deletingSubtree).toBe(false);
  });

  it('an rmdir that would fail dissolves nothing (not in the thesis: a failing remove must change nothing)', () => {
    const t = setup({ inner: '/x/y' });
    // /x is not a directory of this namespace: the rmdir goes to the log to fail there.
    const ri = only(t.request('r1', rmdir), 'read-index');
    const fx = t.step({ kind: 'confirmed', id: ri.id, ok: true });
    expect(fx.some((e) => e.kind === 'subtree-delete')).toBe(false);
    only(fx, 'propose');
  });

  it('an rmdir -r the caller may not do dissolves nothing (issue 18: the simulator found one that did, then failed EACCES)', () => {
    const t = setup({ inner: '/x/y' });
    t.seed({ op: 'mkdir', path: '/x' });
    // A user without write permission on / (root's, 0755).
    const ri = only(t.request('r1', rmdir, { seq: 9, creds: { uid: 1000, gid: 100, groups: [] } }), 'read-index');
    const fx = t.step({ kind: 'confirmed', id: ri.id, ok: true });
    expect(fx.some((e) => e.kind === 'subtree-delete')).toBe(false);
    only(fx, 'propose');
  });
});

describe('ministry core: renames across ministries', () => {
  it('a new minister drives an open rename only once it has applied an entry of its term: "clients should see no new entries of an old leader after assignment of a new leader." (cluster seed 121: one that had not began again a transaction its log had ended and its decision forgotten, and both names survived)', () => {
    const t = setup({ inner: '/t' });
    t.seed({ op: 'create', path: '/f' });
    // Phase one at the source, long applied: the transaction is open in the ledger.
    t.commit(encodeMinistryEntry({ op: 'xrename.out', clientId: 'c', seq: 1, acked: 0, now: t.now(), from: '/f', to: '/t/x', target: 'm1', txid: '' }), 2);
    expect(t.ns.renames.outs.size).toBe(1);
    const begins = (fx: Fx[]): number => fx.filter((e) => e.kind === 'rename-begin').length;
    // Leading, but its no-op not applied yet: what its log holds after index 2 may end it.
    t.log.steady = false;
    t.tick(1_000);
    expect(begins(t.step({ kind: 'tick' }))).toBe(0);
    t.log.steady = true;
    t.tick(1_000);
    expect(begins(t.step({ kind: 'tick' }))).toBe(1);
  });
});

describe('ministry core: appointments', () => {
  it('an appointment appoints the group log at its term: "When a minister is appointed it gets a Raft term."', () => {
    const t = setup();
    const next: MinistryRecord = { ...t.record, term: 42 };
    expect(only(t.step({ kind: 'appointment', record: next }), 'appoint').appointment).toEqual({ term: 42, leader: 'n1', members: ['n1', 'n2', 'n3'] });
    // Fenced: held at the term with no leader.
    expect(only(t.step({ kind: 'appointment', record: { ...next, term: 43, fenced: true } }), 'appoint').appointment.leader).toBe(NO_MINISTER);
  });
});
