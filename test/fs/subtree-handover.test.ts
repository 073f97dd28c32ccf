import { describe, expect, it } from 'vitest';
import { Namespace, type Op } from '../../src/fs/namespace.js';
import { extractSubtree, graftSubtree, handedRoot, handoverProblem, pruneSubtree } from '../../src/fs/subtree-handover.js';

const change = (clientId: string, seq: number, body: Record<string, unknown>, now = 10): Op => ({ op: 'client', clientId, seq, now, body }) as unknown as Op;

function source(): Namespace {
  const ns = new Namespace('/');
  ns.apply(change('c1', 1, { op: 'mkdir', path: '/a/b/c', parents: true }));
  ns.apply(change('c1', 2, { op: 'create', path: '/a/b/c/f' }));
  ns.apply(change('c2', 1, { op: 'create', path: '/a/x' }));
  return ns;
}

describe('subtree handover (live migration, issue 16)', () => {
  it('cuts a directory out as a namespace rooted there, with every client record', () => {
    const ns = source();
    const handed = extractSubtree(ns.snapshot(), '/a/b');
    expect(handedRoot(handed)).toBe('/a/b');
    const target = Namespace.restore(graftSubtree(new Namespace('/a/b').snapshot(), handed));
    expect(target.ls('/a/b')).toEqual([{ name: 'c', kind: 'dir' }]);
    expect(target.stat('/a/b/c/f').kind).toBe('file');
    // A retry of a change the source applied gets its saved answer, not a second apply.
    expect(target.savedResult('c1', 2)).toEqual(ns.savedResult('c1', 2));
    target.apply(change('c1', 2, { op: 'create', path: '/a/b/c/f' }));
    expect(target.lastClientOutcome).toBe('saved');
    expect(target.clientIds()).toEqual(['c1', 'c2']);
  });

  it('versions only grow across the move, and inode numbers stay unique', () => {
    const ns = source();
    const before = ns.stat('/a/b/c/f').version;
    const target = Namespace.restore(graftSubtree(new Namespace('/a/b').snapshot(), extractSubtree(ns.snapshot(), '/a/b')));
    expect(target.version).toBeGreaterThan(ns.version);
    expect(target.stat('/a/b/c/f').version).toBe(before);
    const r = target.apply(change('c3', 1, { op: 'create', path: '/a/b/g' }));
    expect(r.ok && r.version).toBeGreaterThan(ns.version);
    const inos = target.paths().map((p) => target.stat(p.path).ino);
    expect(new Set(inos).size).toBe(inos.length);
  });

  it('grafts into a parent namespace (a merge), making missing directories above', () => {
    const child = new Namespace('/p/q');
    child.apply(change('c1', 5, { op: 'create', path: '/p/q/f' }));
    const parent = new Namespace('/');
    parent.apply(change('c1', 3, { op: 'mkdir', path: '/z' }));
    const merged = Namespace.restore(graftSubtree(parent.snapshot(), extractSubtree(child.snapshot(), '/p/q')));
    expect(merged.ls('/')).toEqual([{ name: 'p', kind: 'dir' }, { name: 'z', kind: 'dir' }]);
    expect(merged.stat('/p/q/f').kind).toBe('file');
    // Records of one client merge: both saved results are kept.
    expect(merged.savedResult('c1', 3)).toBeDefined();
    expect(merged.savedResult('c1', 5)).toBeDefined();
  });

  it('merges records: the higher acknowledgement drops the results below it', () => {
    const a = new Namespace('/');
    a.apply(change('c1', 2, { op: 'mkdir', path: '/d' }));
    const b = new Namespace('/d');
    b.apply({ op: 'client', clientId: 'c1', seq: 4, acked: 3, now: 1, body: { op: 'create', path: '/d/f' } });
    const merged = Namespace.restore(graftSubtree(a.snapshot(), extractSubtree(b.snapshot(), '/d')));
    expect(merged.client('c1')!.acked).toBe(3);
    expect(merged.savedResult('c1', 2)).toBeUndefined();
    expect(merged.savedResult('c1', 4)).toBeDefined();
  });

  it('merges records whose source is behind: its results at or below the target’s acknowledgement go', () => {
    const behind = new Namespace('/d');
    behind.apply({ op: 'client', clientId: 'c1', seq: 7, acked: 5, now: 1, body: { op: 'create', path: '/d/f' } });
    const ahead = new Namespace('/');
    ahead.apply({ op: 'client', clientId: 'c1', seq: 12, acked: 10, now: 2, body: { op: 'mkdir', path: '/e' } });
    const merged = Namespace.restore(graftSubtree(ahead.snapshot(), extractSubtree(behind.snapshot(), '/d')));
    expect(merged.client('c1')!.acked).toBe(10);
    expect(merged.savedResult('c1', 7)).toBeUndefined();
    expect(merged.savedResult('c1', 12)).toBeDefined();
  });

  it('prunes a subtree, and refuses to hand over a file or a missing path', () => {
    const ns = source();
    const pruned = Namespace.restore(pruneSubtree(ns.snapshot(), '/a/b'));
    expect(pruned.ls('/a')).toEqual([{ name: 'x', kind: 'file' }]);
    expect(pruned.version).toBeGreaterThan(ns.version);
    expect(handoverProblem(ns.snapshot(), '/a/x')).toMatch(/is a file/);
    expect(handoverProblem(ns.snapshot(), '/nope')).toMatch(/no such directory/);
    expect(() => extractSubtree(ns.snapshot(), '/a/x')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => graftSubtree(new Namespace('/q').snapshot(), extractSubtree(ns.snapshot(), '/a/b'))).toThrow(/not inside it/);
  });
});
