// parsePath's fast path for plain ASCII paths (src/fs/path.ts PLAIN_PATH) must agree with the
// rules it stands for: random paths over an alphabet of the characters that matter ('/', '.',
// letters, '-', '_'), each parsed by parsePath and by the rules written out here.

import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, MAX_PATH_BYTES, checkPath, isValidPath, parsePath } from '../../src/fs/path.js';

function byTheRules(p: string): string[] | 'error' {
  if (p === '/') return [];
  if (!p.startsWith('/') || p.endsWith('/')) return 'error';
  const segs = p.slice(1).split('/');
  for (const s of segs) if (s.length === 0 || s === '.' || s === '..' || s.length > 255) return 'error';
  return p.length > MAX_PATH_BYTES || segs.length > MAX_DEPTH ? 'error' : segs;
}

function outcome(p: string): string[] | 'error' {
  try {
    return parsePath(p);
  } catch {
    return 'error';
  }
}

function checks(p: string): boolean {
  try {
    return checkPath(p) === p;
  } catch {
    return false;
  }
}

describe('parsePath on plain paths', () => {
  it('agrees with the rules on 20,000 random paths', () => {
    let x = 12345;
    const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0) % n);
    const alphabet = ['/', '/', '.', '.', 'a', 'Z', '0', '-', '_'];
    for (let i = 0; i < 20_000; i++) {
      const len = 1 + rnd(12);
      let p = '';
      for (let j = 0; j < len; j++) p += alphabet[rnd(alphabet.length)];
      expect(outcome(p), p).toEqual(byTheRules(p));
      // isValidPath's and checkPath's own fast paths (no segments) agree too.
      expect(isValidPath(p), p).toBe(byTheRules(p) !== 'error');
      expect(checks(p), p).toBe(byTheRules(p) !== 'error');
    }
    const deep = '/a'.repeat(MAX_DEPTH);
    expect([isValidPath(deep), isValidPath(deep + '/a')]).toEqual([true, false]);
    expect([checks(deep), checks(deep + '/a')]).toEqual([true, false]);
  });

  it('keeps the limits: 255-byte names, 8,192-byte paths, 1,024 levels, and . and .. refused', () => {
    expect(outcome(`/${'n'.repeat(255)}`)).toEqual(['n'.repeat(255)]);
    expect(outcome(`/${'n'.repeat(256)}`)).toBe('error');
    const long = Array.from({ length: 33 }, () => 'p'.repeat(250)).join('/');
    expect(outcome(`/${long}`)).toBe('error');
    expect(outcome('/a'.repeat(MAX_DEPTH))).toHaveLength(MAX_DEPTH);
    expect(outcome('/a'.repeat(MAX_DEPTH + 1))).toBe('error');
    for (const p of ['/.', '/..', '/a/.', '/a/..', '/./a', '/../a']) expect(outcome(p), p).toBe('error');
    for (const p of ['/...', '/.a', '/a.', '/a/.b/..c']) expect(outcome(p), p).toEqual(p.slice(1).split('/'));
  });
});
