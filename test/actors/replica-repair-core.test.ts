// Re-replication's decisions (replica-repair-core.ts), rule by rule.

import { describe, expect, it } from 'vitest';
import { ReplicaRepairCore, type RepairView } from '../../src/actors/replica-repair-core.js';
import type { PlacedChunkMsg } from '../../src/wire/log-codec.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

function view(chunks: PlacedChunkMsg[], over: Partial<RepairView> = {}): RepairView {
  let seq = 0;
  return {
    chunks: chunks.map((chunk) => ({ ino: 7, chunk })),
    nodes: NODES,
    leaving: new Set(),
    wanted: 3,
    chunkBytes: 1000,
    busy: () => false,
    newId: (ino, index) => `m1-2-r${++seq}-${ino}-${index}`,
    ...over,
  };
}

const chunk = (index: number, replicas: string[], version = 1): PlacedChunkMsg => ({ index, chunkId: `c${index}`, version, replicas });

/** A core that heard every node at `at`. */
function heardAll(at: number, opts = {}): ReplicaRepairCore {
  const core = new ReplicaRepairCore({ downAfterMs: 1_000, ...opts }, 0);
  for (const n of NODES) core.heard(n, at);
  return core;
}

describe('ReplicaRepairCore', () => {
  it('leaves a chunk whose replicas are all up alone', () => {
    const core = heardAll(0);
    expect(core.plan(view([chunk(0, ['n1', 'n2', 'n3'])]), 500)).toEqual([]);
    expect(core.short(view([chunk(0, ['n1', 'n2', 'n3'])]), 500)).toBe(0);
  });

  it('copies a chunk with a replica on a removed node to a fresh node, at the next version under a new id', () => {
    const core = heardAll(0);
    const v = view([chunk(0, ['n1', 'n2', 'n6'], 4)]);
    expect(core.short(v, 100)).toBe(1);
    const [job, ...more] = core.plan(v, 100);
    expect(more).toEqual([]);
    expect(job!.sources.sort()).toEqual(['n1', 'n2']);
    expect(job!.next.version).toBe(5);
    expect(job!.next.chunkId).not.toBe('c0');
    expect(job!.next.replicas.slice(0, 2)).toEqual(['n1', 'n2']);
    expect(job!.next.replicas).toHaveLength(3);
    expect(['n3', 'n4', 'n5']).toContain(job!.next.replicas[2]);
    expect(job!.why).toContain('n6 removed');
  });

  it('takes a store silent for downAfterMs for down, and one heard lately for up', () => {
    const core = heardAll(0);
    for (const n of ['n1', 'n2', 'n4', 'n5']) core.heard(n, 1_500);
    const v = view([chunk(0, ['n1', 'n2', 'n3'])]);
    expect(core.plan(v, 900)).toEqual([]); // n3 silent 900 ms: not yet
    const [job] = core.plan(v, 1_600);
    expect(job!.why).toContain('n3 down');
    expect(job!.next.replicas).not.toContain('n3');
    expect(job!.sources).not.toContain('n3');
  });

  it('copies a chunk with a damaged replica from a good one, and not onto the damaged store while others are free', () => {
    const core = heardAll(0);
    core.reportBad('c0', 'n2');
    const [job] = core.plan(view([chunk(0, ['n1', 'n2', 'n3'])]), 100);
    expect(job!.sources.sort()).toEqual(['n1', 'n3']);
    expect(job!.next.replicas).not.toContain('n2');
    expect(job!.why).toContain('n2 damaged');
  });

  it('grows a chunk with fewer replicas than wanted when more nodes are up', () => {
    const core = heardAll(0);
    const [job] = core.plan(view([chunk(0, ['n1'])]), 100);
    expect(job!.next.replicas).toHaveLength(3);
    expect(job!.next.replicas[0]).toBe('n1');
  });

  it('does nothing for a chunk with no good copy left, but counts it short', () => {
    const core = heardAll(0);
    const v = view([chunk(0, ['n6', 'n7'])]);
    expect(core.plan(v, 100)).toEqual([]);
    expect(core.short(v, 100)).toBe(1);
  });

  it('waits while a write lease may be writing the chunk', () => {
    const core = heardAll(0);
    const v = view([chunk(0, ['n1', 'n2', 'n6'])], { busy: () => true });
    expect(core.plan(v, 100)).toEqual([]);
  });

  it('moves replicas off a leaving node, which may still be copied from', () => {
    const core = heardAll(0);
    const [job] = core.plan(view([chunk(0, ['n1', 'n2', 'n3'])], { leaving: new Set(['n3']) }), 100);
    expect(job!.sources).toContain('n3');
    expect(job!.next.replicas).not.toContain('n3');
  });

  it('keeps at most maxInFlight copies going; a failed one frees its slot, a done one holds its chunk until the swap applies', () => {
    const core = heardAll(0, { maxInFlight: 1 });
    const v = view([chunk(0, ['n1', 'n6']), chunk(1, ['n2', 'n6']), chunk(2, ['n3', 'n6'])]);
    const first = core.plan(v, 100);
    expect(first).toHaveLength(1);
    expect(core.plan(v, 200)).toEqual([]);
    core.finished(first[0]!, false, 300);
    const second = core.plan(v, 300);
    expect(second).toHaveLength(1);
    expect(second[0]!.old.chunkId).toBe(first[0]!.old.chunkId);
    core.finished(second[0]!, true, 400);
    const third = core.plan(v, 500);
    expect(third.map((j) => j.old.chunkId)).not.toContain(first[0]!.old.chunkId);
    expect(core.repaired).toBe(1);
  });

  it('spends at most bytesPerSec: a job is charged its bytes times its new replicas, and the budget refills with time', () => {
    // 3 replicas x 1000 bytes = 3000 per job; 3000 bytes/s: one job, then one a second.
    const core = heardAll(0, { bytesPerSec: 3_000, maxInFlight: 10, downAfterMs: 60_000 });
    const v = view([chunk(0, ['n1', 'n6']), chunk(1, ['n2', 'n6']), chunk(2, ['n3', 'n6'])]);
    expect(core.plan(v, 100)).toHaveLength(1);
    expect(core.plan(v, 600)).toHaveLength(0);
    expect(core.plan(v, 1_200)).toHaveLength(1);
  });

  it('notes sources a copy found damaged', () => {
    const core = heardAll(0);
    const [job] = core.plan(view([chunk(0, ['n1', 'n2', 'n6'])]), 100);
    core.finished(job!, false, 200, ['n1']);
    expect(core.badReplicas('c0')).toEqual(['n1']);
    const [again] = core.plan(view([chunk(0, ['n1', 'n2', 'n6'])]), 300);
    expect(again!.sources).toEqual(['n2']);
  });

  it('spreads new replicas across hosts: a host that holds no copy yet first', () => {
    const core = heardAll(0);
    // n1, n2 on host a; n3, n4 on host b; n5 on host c. The chunk keeps n1 (a) and n3 (b).
    const hosts: Record<string, string> = { n1: 'a', n2: 'a', n3: 'b', n4: 'b', n5: 'c' };
    for (let ino = 0; ino < 5; ino++) {
      const v = view([chunk(0, ['n1', 'n3', 'n6'])], { hostOf: (n) => hosts[n]!, chunks: [{ ino, chunk: chunk(0, ['n1', 'n3', 'n6']) }] });
      const [job] = core.plan(v, 100);
      expect(job!.next.replicas).toEqual(['n1', 'n3', 'n5']);
      core.finished(job!, false, 100);
    }
  });
});
