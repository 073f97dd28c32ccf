// The package root exports the in-process API the README shows.
import { describe, expect, it } from 'vitest';
import { Cluster, FsError } from '../../src/index.js';

describe('package root', () => {
  it('runs the README script on the simulator', async () => {
    const cluster = await Cluster.start({ nodes: 5, scheduler: 'sim', seed: 7 });
    const fs = cluster.client();
    await fs.mkdir('/a');
    await fs.create('/a/f');
    const lease = await fs.open('/a/f', { mode: 'write', range: [0, 4096] });
    expect(lease.lease.range).toEqual([0, 4096]);
    await lease.release();
    await cluster.kill('n2');
    const st = await cluster.status();
    expect(st.nodes.find((n) => n.id === 'n2')!.up).toBe(false);
    await expect(fs.rm('/a')).rejects.toBeInstanceOf(FsError);
    await cluster.stop();
  });
});
