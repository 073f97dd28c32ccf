// How deep a namespace may grow (src/fs/path.ts MAX_DEPTH). The snapshot codec and a rename's
// export walk the tree recursively, once per level: a tree 2,047 levels deep (1-byte names in a
// 4 KiB path) overflowed the stack when a snapshot was restored, so a client could leave a
// ministry unable to restart. Paths are limited in levels, and so is what a rename moves deeper.

import { describe, expect, it } from 'vitest';
import { Namespace } from '../../src/fs/namespace.js';
import { MAX_DEPTH } from '../../src/fs/path.js';
import type { Op, OpResult } from '../../src/fs/ns-types.js';

let clock = 1_000;
const run = (ns: Namespace, op: Record<string, unknown>): OpResult => ns.apply({ ...op, now: ++clock } as Op);
const codeOf = (r: OpResult): string => (r.ok ? 'ok' : r.error.code);

function deep(ns: Namespace, under: string, levels: number): string {
  let p = under === '/' ? '' : under;
  if (p !== '') expect(codeOf(run(ns, { op: 'mkdir', path: p }))).toBe('ok');
  for (let i = 0; i < levels; i++) {
    p += '/d';
    expect(codeOf(run(ns, { op: 'mkdir', path: p }))).toBe('ok');
  }
  return p;
}

describe('namespace depth', () => {
  it(`takes ${MAX_DEPTH} levels, refuses one more, and a snapshot of the deepest tree restores`, () => {
    const ns = new Namespace();
    const bottom = deep(ns, '/', MAX_DEPTH);
    expect(codeOf(run(ns, { op: 'mkdir', path: `${bottom}/d` }))).toBe('ENAMETOOLONG');
    expect(codeOf(run(ns, { op: 'create', path: `${bottom}/f` }))).toBe('ENAMETOOLONG');
    const back = Namespace.restore(ns.snapshot());
    expect(back.stat(bottom).kind).toBe('dir');
  });

  it('refuses a rename that would move a tree below the limit, takes one that does not', () => {
    const ns = new Namespace();
    deep(ns, '/', 10);
    // /h and 1,015 levels below it: its child x is at 1,017, /d's deepest 9 levels below /d.
    const host = deep(ns, '/h', MAX_DEPTH - 9);
    expect(host.split('/').length - 1).toBe(1016);
    const r = run(ns, { op: 'rename', from: '/d', to: `${host}/x` });
    expect(r.ok ? 'ok' : r.error.message).toMatch(/would put a path 1025 levels deep, over the limit of 1024/);
    expect(codeOf(run(ns, { op: 'rename', from: '/d/d', to: `${host}/x` }))).toBe('ENAMETOOLONG');
    expect(codeOf(run(ns, { op: 'rename', from: '/d/d/d', to: `${host}/x` }))).toBe('ok'); // exactly 1,024
    // Sideways (same depth) needs no walk and always fits.
    expect(codeOf(run(ns, { op: 'rename', from: '/h', to: '/g' }))).toBe('ok');
  });

  it('a rename across ministries is refused at the source when the target would be too deep', () => {
    const ns = new Namespace();
    deep(ns, '/', 5);
    const to = '/x'.repeat(MAX_DEPTH - 3);
    expect(() => ns.exportTree('/d', undefined, to)).toThrow(/over the limit of 1024/);
    expect(ns.exportTree('/d', undefined, '/x'.repeat(MAX_DEPTH - 5)).length).toBe(5);
  });
});
