// `status()` ministries carry their load (issue 16): the average CPU of their clerks, their
// minister's CPU and the summed read and write rates, from the load each member reports to a
// probe that asks for it; members that report none (or a role they left) do not count.

import { describe, expect, it } from 'vitest';
import { gatherStatus } from '../../src/client/status.js';

const ministries = [{ id: 'm0', subtree: '/', minister: 'n1', clerks: ['n2', 'n3'], term: 4, down: false }];

function reports(asked: object[]): (node: string, msg: object) => Promise<unknown> {
  const load = (cpu: number, r: number, w: number) => ({ cpu, readsPerSec: r, writesPerSec: w, hot: [] });
  const byNode: Record<string, object> = {
    n1: { id: 'n1', role: 'minister', ministry: 'm0', commit: 5, applied: 5, caughtUp: true, load: load(0.9, 1, 10) },
    n2: { id: 'n2', role: 'clerk', ministry: 'm0', commit: 5, applied: 5, caughtUp: true, load: load(0.5, 20, 0) },
    n3: { id: 'n3', role: 'clerk', ministry: 'm0', commit: 5, applied: 5, caughtUp: true, load: load(0.7, 30, 0) },
    // A report of a role n4 has left: not m0's.
    n4: { id: 'n4', role: 'president', ministry: 'm9', commit: 0, applied: 0, caughtUp: false, load: load(1, 100, 100) },
  };
  return async (node, msg) => {
    asked.push(msg);
    if ((msg as { type: string }).type === 'govfs.fs.StatusRequest') return { president: 'n4', clusterTerm: 2, ministries, idle: [], shortStaffed: [], balancing: false };
    return byNode[node];
  };
}

describe('status load', () => {
  it('averages clerk CPU and sums rates per ministry, from probes that ask for load', async () => {
    const asked: object[] = [];
    const st = await gatherStatus(['n1', 'n2', 'n3', 'n4'], reports(asked));
    expect(asked).toContainEqual({ type: 'govfs.fs.NodeProbe', load: true });
    expect(st.balancing).toBe(false);
    expect(st.ministries[0]!.load).toEqual({ cpu: 0.6, ministerCpu: 0.9, readsPerSec: 51, writesPerSec: 10 });
  });

  it('is null for a ministry none of whose members reported load', async () => {
    const st = await gatherStatus(['n1'], async (_n, msg) => ((msg as { type: string }).type === 'govfs.fs.StatusRequest' ? { president: 'n1', clusterTerm: 1, ministries, idle: [], shortStaffed: [] } : { id: 'n1', role: 'minister', ministry: 'm0', commit: 1, applied: 1, caughtUp: true, load: null }));
    expect(st.ministries[0]!.load).toBeNull();
    expect(st.balancing).toBe(true);
  });
});
