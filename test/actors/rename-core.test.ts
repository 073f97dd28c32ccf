import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/actors/cluster-state.js';
import { BEGIN_EVERY_MS, ORPHAN_MS, PARK_MS, REPORT_EVERY_MS, RenameCoordinator, RenameDriver, endedHere, type RenameHost } from '../../src/actors/rename-core.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from '../../src/actors/ministry-entry.js';
import type { MinistryAnswer } from '../../src/actors/ministry-core.js';
import type { Vote } from '../../src/actors/rename-ledger.js';
import type { CrossRenameBeginMessage } from '../../src/fs/requests.js';

// Who asks whom in a rename across ministries (src/actors/rename-core.ts): the president's
// coordinator (votes in, decisions out, the first decision standing) and the minister's driver
// (Begin until decided, then the end; clients answered from the saved result), over a real
// MinistryNamespace and ClusterState, with a host that applies proposals at once.

function cluster(): ClusterState {
  const s = new ClusterState(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
  s.apply({ order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3'], clerksWanted: 1 }, 1);
  s.apply({ order: 'appoint', subtree: '/a', minister: 'n4', clerks: ['n5'], clerksWanted: 1 }, 2);
  return s;
}

const begin = (over: Partial<CrossRenameBeginMessage> = {}): CrossRenameBeginMessage => ({ type: 'govfs.fs.CrossRenameBegin', txid: 'm1@4', source: 'm1', target: 'm0', to: '/t/x', entry: new Uint8Array([2]), ...over });
const yes: Vote = { ok: true, retry: false, code: '', message: '', index: 12, replaced: true };

describe('rename coordinator (the president)', () => {
  it('asks the minister of the target, then orders the decision its vote gives', () => {
    const c = new RenameCoordinator();
    const state = cluster();
    const asks = c.begin(begin(), state);
    expect(asks).toEqual([{ kind: 'ask-prepare', txid: 'm1@4', node: 'n2', msg: { type: 'govfs.fs.CrossRenamePrepare', txid: 'm1@4', entry: new Uint8Array([2]) }, timeoutMs: expect.any(Number) }]);
    // A resent Begin while the vote is awaited asks nothing more.
    expect(c.begin(begin(), state)).toEqual([]);
    const [d] = c.voted('m1@4', yes, state);
    expect(d).toMatchObject({ kind: 'propose', order: { order: 'crossRename', decision: { txid: 'm1@4', commit: true, targetIndex: 12, replaced: true, source: 'm1', target: 'm0' } } });
  });

  it('a no for good aborts with its error; no answer, a busy target or a changed map abort for now', () => {
    const c = new RenameCoordinator();
    const state = cluster();
    c.begin(begin(), state);
    expect(c.voted('m1@4', { ok: false, retry: false, code: 'ENOENT', message: 'no dir', index: 0, replaced: false }, state)[0]).toMatchObject({ order: { decision: { commit: false, retry: false, code: 'ENOENT' } } });
    c.begin(begin({ txid: 'm1@5' }), state);
    expect(c.voted('m1@5', null, state)[0]).toMatchObject({ order: { decision: { commit: false, retry: true } } });
    expect(c.begin(begin({ txid: 'm1@6', target: 'm7' }), state)[0]).toMatchObject({ kind: 'propose', order: { decision: { commit: false, retry: true } } });
    expect(c.begin(begin({ txid: 'garbage' }), state)).toEqual([]);
    state.apply({ order: 'fence', ministry: 'm0' }, 3);
    expect(c.begin(begin({ txid: 'm1@7' }), state)[0]).toMatchObject({ kind: 'propose', order: { decision: { commit: false, retry: true } } });
  });

  it('decides nothing once the cluster log holds a decision; there the first one stands, and a dissolved ministry turns a commit into an abort', () => {
    const c = new RenameCoordinator();
    const state = cluster();
    c.begin(begin(), state);
    const [p] = c.voted('m1@4', yes, state) as unknown as [{ order: Parameters<ClusterState['apply']>[0] }];
    expect(state.apply(p.order, 3).ok).toBe(true);
    expect(c.begin(begin(), state)).toEqual([]);
    expect(state.apply({ order: 'crossRename', decision: { ...state.crossRenames.get('m1@4')!, commit: false } }, 4).ok).toBe(false);
    expect(state.crossRenames.get('m1@4')!.commit).toBe(true);
    state.apply({ order: 'dissolve', ministry: 'm1' }, 5);
    state.apply({ order: 'crossRename', decision: { ...state.crossRenames.get('m1@4')!, txid: 'm1@9' } }, 6);
    expect(state.crossRenames.get('m1@9')).toMatchObject({ commit: false, retry: true });
    // Decisions survive the cluster log's snapshot.
    expect(ClusterState.restore(state.snapshot()).crossRenames.get('m1@4')).toEqual(state.crossRenames.get('m1@4'));
  });
});

describe('forgetting decisions (the cluster state stays bounded)', () => {
  const decision = (txid: string, commit: boolean, targetIndex = 0) => ({ txid, commit, retry: !commit, code: commit ? '' : 'EAGAIN', message: '', source: 'm1', target: 'm0', targetIndex, replaced: false });
  const report = (from: string, ended: string[]): CrossRenameBeginMessage => ({ type: 'govfs.fs.CrossRenameBegin', txid: '', source: from, target: '', to: '', entry: new Uint8Array(0), ended });

  it('forgets a decision once both its ministries (or a dissolved one) said they are done; the cluster log applies it', () => {
    const c = new RenameCoordinator();
    const state = cluster();
    state.apply({ order: 'crossRename', decision: decision('m1@4', true, 9) }, 3);
    state.apply({ order: 'crossRename', decision: decision('m1@5', false) }, 4);
    expect(c.begin(report('m1', ['m1@4', 'm1@5', 'nothing']), state)).toEqual([]);
    // (A ministry of neither side counts for nothing.)
    expect(c.begin(report('m7', ['m1@4']), state)).toEqual([]);
    const [e] = c.begin(report('m0', ['m1@4']), state);
    expect(e).toMatchObject({ kind: 'propose', order: { order: 'crossRenameForget', txids: ['m1@4'] } });
    expect(state.apply((e as { order: Parameters<ClusterState['apply']>[0] }).order, 5).ok).toBe(true);
    expect([...state.crossRenames.keys()]).toEqual(['m1@5']);
    // The target is dissolved: the source's word is enough.
    state.apply({ order: 'dissolve', ministry: 'm0' }, 6);
    expect(c.begin(report('m1', ['m1@5']), state)[0]).toMatchObject({ order: { order: 'crossRenameForget', txids: ['m1@5'] } });
    // Forgetting survives the cluster log's snapshot.
    expect(ClusterState.restore(state.snapshot()).crossRenames.size).toBe(state.crossRenames.size);
  });

  it('a ministry is done with a transaction it holds no more: the source once it applied its first entry, the target of a commit once it applied its prepare', () => {
    const ns = new MinistryNamespace('/a');
    const ds = [decision('m1@4', true, 9), decision('m1@20', false), { ...decision('m2@3', true, 30), source: 'm2', target: 'm1' }, { ...decision('m2@4', false), source: 'm2', target: 'm1' }];
    expect(endedHere('m1', ds, ns, 10)).toEqual(['m1@4', 'm2@4']);
    expect(endedHere('m1', ds, ns, 30)).toEqual(['m1@4', 'm1@20', 'm2@3', 'm2@4']);
    // (A target is done with an abort it holds no more: were its prepare applied later, the
    // reservation would be aborted again as an orphan.)
    expect(endedHere('m0', ds, ns, 8)).toEqual(['m1@20']);
    expect(endedHere('m0', ds, ns, 9)).toEqual(['m1@4', 'm1@20']);
    ns.renames.outs.set('m1@4', { txid: 'm1@4', clientId: 'c', seq: 1, from: '/a/f', to: '/t/f', target: 'm0', since: 0 });
    expect(endedHere('m1', ds, ns, 30)).not.toContain('m1@4');
  });

  it('a reservation nobody decides on for ORPHAN_MS (its decision forgotten before its prepare applied) is aborted at the target\'s request; the minister reports every REPORT_EVERY_MS', () => {
    const { ns, state, log, h, d } = rootRig();
    const tree = [{ path: '', kind: 'file' as const, ino: 9, size: 0, btime: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, mode: 0o644, uid: 0, gid: 0, target: '' }];
    ns.applyEntry(encodeMinistryEntry({ op: 'xrename.in', txid: 'm1@4', source: 'm1', from: '/a/f', to: '/x', tree, now: 0, index: 0, replaced: false }), 1, 0);
    d.drive(h);
    h.now = ORPHAN_MS - 1;
    d.drive(h);
    expect(log.begun).toEqual([]);
    h.now = ORPHAN_MS;
    d.drive(h);
    expect(log.begun).toHaveLength(1);
    const [abort] = new RenameCoordinator().begin(log.begun[0]!, state);
    expect(abort).toMatchObject({ kind: 'propose', order: { order: 'crossRename', decision: { txid: 'm1@4', commit: false, retry: true } } });
    state.apply((abort as { order: Parameters<ClusterState['apply']>[0] }).order, 3);
    h.now += 1;
    d.drive(h);
    expect(ns.renames.empty).toBe(true);
    // Now done with it: reported (again every REPORT_EVERY_MS while the decision is kept).
    h.now += REPORT_EVERY_MS;
    d.drive(h);
    expect(log.begun.at(-1)).toMatchObject({ txid: '', source: h.ministry, ended: ['m1@4'] });
  });
});

/** A host whose proposals apply at once to `ns` (index by index). */
/** The root ministry m0 of cluster() with its host, its log of what it sent, and a driver. */
function rootRig() {
  const ns = new MinistryNamespace('/');
  ns.renames.owner = 'm0';
  const state = cluster();
  const log = { begun: [] as CrossRenameBeginMessage[], replies: [] as [string, MinistryAnswer][], votes: [] as Vote[] };
  return { ns, state, log, h: host(ns, state, log), d: new RenameDriver<string>() };
}

function host(ns: MinistryNamespace, state: ClusterState, log: { begun: CrossRenameBeginMessage[]; replies: [string, MinistryAnswer][]; votes: Vote[] }) {
  let index = 100;
  const h: RenameHost<string> & { now: number; lead: boolean } = {
    now: 0,
    lead: true,
    ministry: 'm1',
    ns,
    leaseWaitMs: 1_000,
    leading: () => h.lead,
    cluster: () => state,
    applied: () => index,
    propose: (payload, k) => {
      const o = ns.applyEntry(payload, ++index, h.now);
      k(o.ok ? { index, value: o.value } : null);
    },
    begin: (m) => log.begun.push(m),
    reply: (to, a) => log.replies.push([to, a]),
    vote: (_to, v) => log.votes.push(v),
  };
  return h;
}

describe('rename driver (the ministers)', () => {
  it('source: begins until decided (again every BEGIN_EVERY_MS), ends on the decision and answers the waiting clients', () => {
    const ns = new MinistryNamespace('/a');
    ns.renames.owner = 'm1';
    ns.applyEntry(MinistryNamespace.encodeEntry({ clientId: 's', seq: 1, acked: 0, op: { op: 'create', path: '/a/f' }, now: 0 }), 1, 0);
    const state = cluster();
    const log = { begun: [] as CrossRenameBeginMessage[], replies: [] as [string, MinistryAnswer][], votes: [] as Vote[] };
    const h = host(ns, state, log);
    const d = new RenameDriver<string>();
    const target = state.ministryFor('/t/x')!;
    d.start(h, { clientId: 'c', seq: 3, acked: 0, from: '/a/f', to: '/t/x' }, target, 'first');
    expect(log.begun).toHaveLength(1);
    const entry = decodeMinistryEntry(log.begun[0]!.entry) as { op: string; tree: unknown[]; to: string };
    expect(entry).toMatchObject({ op: 'xrename.in', to: '/t/x', tree: [{ path: '', kind: 'file' }] });
    d.start(h, { clientId: 'c', seq: 3, acked: 0, from: '/a/f', to: '/t/x' }, target, 'retry');
    expect(d.waiting).toBe(2);
    h.now += BEGIN_EVERY_MS - 1;
    d.drive(h);
    expect(log.begun).toHaveLength(1);
    h.now += 1;
    d.drive(h);
    expect(log.begun).toHaveLength(2);
    const txid = log.begun[0]!.txid;
    state.apply({ order: 'crossRename', decision: { txid, commit: true, retry: false, code: '', message: '', source: 'm1', target: target.id, targetIndex: 12, replaced: false } }, 3);
    d.drive(h);
    expect(ns.renames.empty).toBe(true);
    expect(log.replies.map(([to, a]) => [to, a.kind === 'result' && a.result.ok])).toEqual([['first', true], ['retry', true]]);
    expect(d.waiting).toBe(0);
  });

  it('target: votes through its log, refuses when not the minister or already decided', () => {
    const { ns, state, log, h, d } = rootRig();
    const src = new MinistryNamespace('/a');
    src.renames.owner = 'm1';
    src.applyEntry(MinistryNamespace.encodeEntry({ clientId: 's', seq: 1, acked: 0, op: { op: 'create', path: '/a/f' }, now: 0 }), 1, 0);
    const sh = host(src, state, { begun: log.begun, replies: [], votes: [] });
    new RenameDriver<string>().start(sh, { clientId: 'c', seq: 3, acked: 0, from: '/a/f', to: '/g' }, state.ministryFor('/g')!, 'x');
    const b = log.begun[0]!;
    d.prepare(h, { type: 'govfs.fs.CrossRenamePrepare', txid: b.txid, entry: b.entry }, 'p');
    expect(log.votes[0]).toMatchObject({ ok: true, replaced: false });
    d.prepare(h, { type: 'govfs.fs.CrossRenamePrepare', txid: 'other', entry: b.entry }, 'p');
    expect(log.votes[1]).toMatchObject({ ok: false, code: 'EINVAL' });
    h.lead = false;
    d.prepare(h, { type: 'govfs.fs.CrossRenamePrepare', txid: b.txid, entry: b.entry }, 'p');
    expect(log.votes[2]).toMatchObject({ ok: false, retry: true });
    h.lead = true;
    state.apply({ order: 'crossRename', decision: { txid: b.txid, commit: true, retry: false, code: '', message: '', source: 'm1', target: 'm0', targetIndex: 1, replaced: false } }, 3);
    d.drive(h);
    expect(ns.renames.empty).toBe(true);
    expect(ns.namespace.stat('/g').kind).toBe('file');
    d.prepare(h, { type: 'govfs.fs.CrossRenamePrepare', txid: b.txid, entry: b.entry }, 'p');
    expect(log.votes[3]).toMatchObject({ ok: false, retry: true });
  });

  it('target: a reservation whose source ministry was dissolved before any decision is closed (the target asks; the president aborts)', () => {
    const { ns, state, log, h, d } = rootRig();
    const src = new MinistryNamespace('/a');
    src.renames.owner = 'm1';
    src.applyEntry(MinistryNamespace.encodeEntry({ clientId: 's', seq: 1, acked: 0, op: { op: 'create', path: '/a/f' }, now: 0 }), 1, 0);
    const begun: CrossRenameBeginMessage[] = [];
    new RenameDriver<string>().start(host(src, state, { begun, replies: [], votes: [] }), { clientId: 'c', seq: 3, acked: 0, from: '/a/f', to: '/g' }, state.ministryFor('/g')!, 'x');
    d.prepare(h, { type: 'govfs.fs.CrossRenamePrepare', txid: begun[0]!.txid, entry: begun[0]!.entry }, 'p');
    d.drive(h);
    expect(log.begun).toEqual([]);
    state.apply({ order: 'dissolve', ministry: 'm1' }, 3);
    d.drive(h);
    expect(log.begun).toHaveLength(1);
    const [p] = new RenameCoordinator().begin(log.begun[0]!, state) as unknown as [{ order: Parameters<ClusterState['apply']>[0] }];
    expect(p.order).toMatchObject({ decision: { commit: false, retry: true } });
    state.apply(p.order, 4);
    d.drive(h);
    expect(ns.renames.empty).toBe(true);
    expect(ns.namespace.exists('/g')).toBe(false);
  });

  it('a rename out of a name this ministry still holds for another transaction waits for its end (PARK_MS at most), then goes on', () => {
    const ns = new MinistryNamespace('/a');
    ns.renames.owner = 'm1';
    const state = cluster();
    const log = { begun: [] as CrossRenameBeginMessage[], replies: [] as [string, MinistryAnswer][], votes: [] as Vote[] };
    const h = host(ns, state, log);
    const d = new RenameDriver<string>();
    // /a/f is reserved here as the target of m0@7 (a rename into /a not ended yet).
    ns.applyEntry(encodeIn('m0@7', '/f', '/a/f'), 50, 0);
    d.start(h, { clientId: 'c', seq: 3, acked: 0, from: '/a/f', to: '/g' }, state.ministryFor('/g')!, 'back');
    expect(d.waiting).toBe(1);
    expect(log.replies).toEqual([]);
    state.apply({ order: 'crossRename', decision: { txid: 'm0@7', commit: true, retry: false, code: '', message: '', source: 'm0', target: 'm1', targetIndex: 50, replaced: false } }, 3);
    d.drive(h);
    // The end grafted /a/f; the parked rename started: its Begin is out.
    expect(ns.namespace.stat('/a/f').kind).toBe('file');
    // (Reports of ended transactions aside.)
    expect(log.begun.filter((b) => b.txid !== '').map((b) => b.to)).toEqual(['/g']);
    // One whose holder never ends is told to retry after PARK_MS.
    ns.applyEntry(encodeIn('m0@8', '/x', '/a/x'), 60, 0);
    d.start(h, { clientId: 'c', seq: 4, acked: 0, from: '/a/x', to: '/y' }, state.ministryFor('/y')!, 'late');
    h.now += PARK_MS + 1;
    d.drive(h);
    expect(log.replies.find(([to]) => to === 'late')?.[1]).toMatchObject({ kind: 'error', error: { code: 'EAGAIN' } });
  });
});

function encodeIn(txid: string, from: string, to: string): Uint8Array {
  return encodeMinistryEntry({ op: 'xrename.in', txid, source: 'm0', from, to, tree: [{ path: '', kind: 'file', ino: 5, size: 0, btime: 0, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, mode: 0o644, uid: 0, gid: 0, target: '' }], now: 0, index: 0, replaced: false });
}
