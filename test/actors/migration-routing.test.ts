// A node's routing during a live subtree migration (node-core.ts): a split's new ministry is
// left out of the map clients get until the map commits, the president's MigrationQuery goes
// to the node's role, and status shows the migrations.

import { describe, expect, it } from 'vitest';
import type { ClusterOrder } from '../../src/actors/cluster-state.js';
import { NodeCore, type NodeEffect } from '../../src/actors/node-core.js';
import type { NodeConfig } from '../../src/actors/node.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const ROOT: ClusterOrder = { order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3'], clerksWanted: 1 };
const SPLIT: ClusterOrder = { order: 'migrateStart', id: '', subtree: '/a', from: 'm0', to: '', minister: 'n5', clerks: ['n6'], clerksWanted: 1, why: 'test' };

function node(id: string) {
  const config: NodeConfig = { id, nodes: NODES, addresses: Object.fromEntries(NODES.map((n) => [n, `/${n}`])) };
  const core = new NodeCore(config, { term: () => 3, caughtUp: () => true });
  const apply = (...orders: ClusterOrder[]): NodeEffect[] => {
    for (const o of orders) expect(core.apply(o, core.state.applied + 1).ok).toBe(true);
    return core.applied();
  };
  return { core, apply };
}

const reply = (effects: NodeEffect[]): Record<string, unknown> => (effects[0] as { msg: Record<string, unknown> }).msg;
const fsRequest = (path: string) => ({ type: 'govfs.fs.FsRequest', path, clientId: 'c', seq: 1 });

describe('routing during a migration', () => {
  it('a split’s new ministry runs its role but is not in the map until the map commits', () => {
    const n5 = node('n5');
    expect(n5.apply(ROOT, SPLIT).map((e) => e.kind)).toContain('startRole');
    // Its own node does not route /a to it, and the redirect names only the root.
    const r = reply(n5.core.receive(fsRequest('/a/x'), 0));
    expect((r['redirect'] as { id: string }[]).map((m) => m.id)).toEqual(['m0']);
    n5.apply({ order: 'migrateHandover', id: 'g1', namespace: Uint8Array.of(1), leaseToken: 0 }, { order: 'mapCommit', id: 'g1' });
    expect(n5.core.receive(fsRequest('/a/x'), 0)).toEqual([{ kind: 'forwardToRole' }]);
  });

  it('the president’s MigrationQuery goes to the role; a node with none says so', () => {
    const n2 = node('n2');
    n2.apply(ROOT);
    expect(n2.core.receive({ type: 'govfs.fs.MigrationQuery', migration: 'g1' }, 0)).toEqual([{ kind: 'forwardToRole' }]);
    const n4 = node('n4');
    n4.apply(ROOT);
    expect(reply(n4.core.receive({ type: 'govfs.fs.MigrationQuery', migration: 'g1' }, 0))).toMatchObject({ type: 'govfs.fs.MigrationProgress', state: 'none' });
  });

  it('status lists the migrations', () => {
    const n1 = node('n1');
    n1.apply(ROOT, SPLIT);
    const st = reply(n1.core.receive({ type: 'govfs.fs.StatusRequest' }, 0));
    expect(st['migrations']).toEqual([{ id: 'g1', subtree: '/a', from: 'm0', to: 'm1', phase: 'fencing', split: true, reason: 'test' }]);
  });
});
