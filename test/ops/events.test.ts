// The web view's timeline: what changed between two status views, as events.

import { describe, expect, it } from 'vitest';
import type { ClusterStatusView } from '../../src/client/status.js';
import { diffStatus } from '../../src/ops/events.js';

const node = (id: string, up = true, role = 'clerk', ministry = 'm0') => ({ id, up, role, ministry, commit: 1, applied: 1, caughtUp: true });
const base: ClusterStatusView = {
  president: 'n1',
  clusterTerm: 1,
  ministries: [{ id: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 1, commitIndex: 5, down: false, shortStaffed: false, load: null }],
  idle: ['n5'],
  balancing: true,
  migrations: [],
  nodes: [node('n1', true, 'president', ''), node('n2', true, 'minister'), node('n3'), node('n4'), node('n5', true, 'idle', '')],
};

describe('diffStatus', () => {
  it('the first view is the starting picture: only its president is news', () => {
    expect(diffStatus(null, base, 7).map((e) => e.kind)).toEqual(['election']);
  });

  it('nothing changed: no events', () => {
    expect(diffStatus(base, structuredClone(base), 7)).toEqual([]);
  });

  it('a failover, a node down and a new president', () => {
    const next = structuredClone(base);
    next.president = 'n3';
    next.clusterTerm = 2;
    next.ministries[0] = { ...next.ministries[0]!, minister: 'n4', clerks: ['n3', 'n5'], term: 2 };
    next.nodes[1] = node('n2', false, 'down', '');
    const events = diffStatus(base, next, 9);
    expect(events.map((e) => [e.kind, e.node])).toEqual([['election', 'n3'], ['failover', 'n4'], ['node-down', 'n2']]);
    expect(events[1]!.text).toBe('ministry m0 (/): minister n4 replaces n2 (term 2)');
    expect(events.every((e) => e.at === 9)).toBe(true);
  });

  it('a split, changed clerks, a dissolved ministry, a node back up', () => {
    const mid: ClusterStatusView = { ...structuredClone(base), ministries: [...structuredClone(base.ministries), { id: 'm1', subtree: '/a', minister: 'n5', clerks: [], term: 1, commitIndex: 0, down: false, shortStaffed: true, load: null }] };
    mid.nodes[4] = node('n5', false, 'down', '');
    expect(diffStatus(base, mid, 1).map((e) => e.kind)).toEqual(['split', 'node-down']);
    const next = structuredClone(base);
    next.ministries[0]!.clerks = ['n3'];
    expect(diffStatus(mid, next, 2).map((e) => e.kind)).toEqual(['staff', 'dissolved', 'node-up']);
  });
});
