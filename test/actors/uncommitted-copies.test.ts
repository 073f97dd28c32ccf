// The collection of copies no commit named (uncommitted-copies.ts), rule by rule.

import { describe, expect, it } from 'vitest';
import { UncommittedCopies } from '../../src/actors/uncommitted-copies.js';

const copy = (id: string) => ({ index: 0, chunkId: id, version: 2, replicas: ['n1', 'n2', 'n3'] });

describe('UncommittedCopies', () => {
  it('deletes a copy no layout names once the grace is over, and not before', () => {
    const c = new UncommittedCopies(10_000);
    c.note(copy('m1-3-a-7-0'), 1_000);
    expect(c.due(10_000, () => false)).toEqual([]);
    expect(c.due(11_001, () => false)).toEqual([copy('m1-3-a-7-0')]);
    expect(c.pending).toBe(0);
  });

  it('forgets a copy a layout names (committed): it is never deleted', () => {
    const c = new UncommittedCopies(10_000);
    c.note(copy('x'), 0);
    expect(c.due(5_000, (id) => id === 'x')).toEqual([]);
    expect(c.due(50_000, () => false)).toEqual([]);
  });

  it('refuses a commit of a proposal older than half the grace, or of a collected copy; a predecessor\'s proposal may commit', () => {
    const c = new UncommittedCopies(10_000);
    c.note(copy('x'), 0);
    expect(c.refuseCommit('x', 4_000)).toBeNull();
    expect(c.refuseCommit('x', 6_000)).toMatch(/propose the replacement again/);
    c.due(20_000, () => false);
    expect(c.refuseCommit('x', 20_001)).toMatch(/collected/);
    expect(c.refuseCommit('unknown', 20_001)).toBeNull();
  });

  it('a deletion that failed is tried again on the next round', () => {
    const c = new UncommittedCopies(1_000);
    c.note(copy('x'), 0);
    const [gone] = c.due(2_000, () => false);
    c.retry(gone!, 2_000);
    expect(c.due(2_001, () => false)).toEqual([copy('x')]);
    expect(c.refuseCommit('x', 2_001)).toMatch(/collected/);
  });
});
