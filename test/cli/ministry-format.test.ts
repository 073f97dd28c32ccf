// What `govfs ministry list` and `govfs status` print of live subtree migrations.

import { describe, expect, it } from 'vitest';
import { formatMinistries, formatStatus } from '../../src/cli/client-commands.js';
import type { ClusterStatusView } from '../../src/client/status.js';

const view: ClusterStatusView = {
  president: 'n1',
  clusterTerm: 3,
  ministries: [
    { id: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 5, commitIndex: 9, down: false, shortStaffed: false, load: null },
    { id: 'm1', subtree: '/a b', minister: 'n5', clerks: ['n6'], term: 6, commitIndex: 2, down: false, shortStaffed: true, load: null },
  ],
  idle: [],
  nodes: [],
  balancing: true,
  migrations: [
    { id: 'g1', subtree: '/x', from: 'm0', to: 'm7', phase: 'aborted', split: true, reason: 'no progress for 30000 ms' },
    { id: 'g2', subtree: '/a b', from: 'm0', to: 'm1', phase: 'handed', split: true, reason: 'asked by a client' },
  ],
};

describe('migrations on the command line', () => {
  it('ministry list: each ministry with the migration it is in, then the migrations', () => {
    expect(formatMinistries(view).split('\n')).toEqual([
      'MINISTRY  SUBTREE  MINISTER  CLERKS  TERM  MIGRATION',
      'm0        /        n2        n3,n4   5     g2 handed',
      'm1        /a b     n5        n6      6     g2 handed',
      '',
      'MIGRATION  KIND   SUBTREE  FROM  TO  PHASE    WHY',
      'g1         split  /x       m0    m7  aborted  no progress for 30000 ms',
      'g2         split  /a b     m0    m1  handed   asked by a client',
    ]);
  });

  it('status names the migrations in progress', () => {
    expect(formatStatus(view, 'h:1')).toMatch(/\nmigrations in progress: g2 split \/a b m0 -> m1 \(handed\)$/);
    expect(formatStatus({ ...view, migrations: [] }, 'h:1')).not.toMatch(/migrations/);
  });
});
