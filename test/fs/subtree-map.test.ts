import { describe, expect, it } from 'vitest';
import { FsError, SubtreeMap } from '../../src/fs/index.js';

interface Ministry {
  id: string;
  term: number;
}

function sample(): SubtreeMap<Ministry> {
  return new SubtreeMap<Ministry>()
    .set('/', { id: 'm0', term: 1 })
    .set('/a', { id: 'm1', term: 2 })
    .set('/a/b/c', { id: 'm2', term: 3 })
    .set('/x/y', { id: 'm3', term: 4 });
}

describe('SubtreeMap', () => {
  it('finds the longest prefix on whole segments', () => {
    const m = sample();
    expect(m.lookup('/')).toEqual({ subtree: '/', info: { id: 'm0', term: 1 } });
    expect(m.lookup('/a')?.subtree).toBe('/a');
    expect(m.lookup('/a/b')?.subtree).toBe('/a');
    expect(m.lookup('/a/b/c')?.subtree).toBe('/a/b/c');
    expect(m.lookup('/a/b/c/d/e')?.info.id).toBe('m2');
    expect(m.lookup('/ab')?.subtree).toBe('/');
    expect(m.lookup('/a/b/cd')?.subtree).toBe('/a');
    expect(m.lookup('/x')?.subtree).toBe('/');
    expect(m.lookup('/x/y/z')?.subtree).toBe('/x/y');
  });

  it('may have no owner while / has no entry, and rejects bad paths', () => {
    const m = new SubtreeMap<string>().set('/a', 'm1');
    expect(m.lookup('/b')).toBeUndefined();
    expect(m.lookup('/a/q')?.info).toBe('m1');
    expect(() => m.lookup('/a/')).toThrow(FsError);
    expect(() => m.set('a', 'x')).toThrow(/not absolute/);
  });

  it('lists the subtree roots directly inside a directory', () => {
    const m = sample().set('/a/z', { id: 'm4', term: 5 });
    expect(m.childrenRoots('/')).toEqual(['a']);
    expect(m.childrenRoots('/a')).toEqual(['z']);
    expect(m.childrenRoots('/a/b')).toEqual(['c']);
    expect(m.childrenRoots('/x')).toEqual(['y']);
    expect(m.childrenRoots('/q')).toEqual([]);
    m.delete('/a/z');
    expect(m.childrenRoots('/a')).toEqual([]);
    expect(m.delete('/a/z')).toBe(false);
  });

  it('within lists roots strictly below a path', () => {
    const m = sample();
    expect(m.within('/a')).toEqual(['/a/b/c']);
    expect(m.within('/')).toEqual(['/a', '/a/b/c', '/x/y']);
    expect(m.within('/a/b/c')).toEqual([]);
  });

  it('replaces and deletes', () => {
    const m = sample();
    m.set('/a', { id: 'm9', term: 9 });
    expect(m.size).toBe(4);
    expect(m.lookup('/a/q')?.info.id).toBe('m9');
    expect(m.childrenRoots('/')).toEqual(['a']);
    expect(m.delete('/a')).toBe(true);
    expect(m.lookup('/a/q')?.subtree).toBe('/');
    expect(m.has('/a')).toBe(false);
    expect(m.get('/x/y')?.id).toBe('m3');
  });

  it('round-trips through plain JSON, sorted', () => {
    const m = sample();
    const text = JSON.stringify(m);
    const back = SubtreeMap.fromJSON<Ministry>(JSON.parse(text));
    expect(back.entries()).toEqual(m.entries());
    expect(JSON.stringify(back)).toBe(text);
    expect(back.entries().map((e) => e[0])).toEqual(['/', '/a', '/a/b/c', '/x/y']);
    expect(back.childrenRoots('/a/b')).toEqual(['c']);
    const revived = SubtreeMap.fromJSON(JSON.parse(text), (raw) => (raw as Ministry).id);
    expect(revived.lookup('/a/b')?.info).toBe('m1');
  });

  it('rejects malformed JSON with EINVAL', () => {
    for (const bad of [null, {}, { entries: 3 }, { entries: [['/a']] }, { entries: [[1, 2]] }, { entries: [['a', 1]] }, { entries: [['/a', 1], ['/a', 2]] }]) {
      expect(() => SubtreeMap.fromJSON(bad)).toThrow(FsError);
    }
  });
});
