import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

describe('cluster (sim)', () => {
  it('forms the root ministry and serves namespace operations', async () => {
    const cluster = await Cluster.start({ nodes: 5, scheduler: 'sim', seed: 1 });
    const st = await cluster.status();
    expect(st.president).not.toBe('');
    const root = st.ministries.find((m) => m.subtree === '/')!;
    expect(root.clerks.length).toBe(2);
    expect([root.minister, ...root.clerks]).not.toContain(st.president);
    const fs = cluster.client();
    await fs.mkdir('/x');
    await fs.create('/x/f');
    expect(await fs.ls('/x')).toEqual([{ name: 'f', kind: 'file' }]);
    const stat = await fs.stat('/x/f');
    expect(stat.kind).toBe('file');
    await expect(fs.mkdir('/x')).rejects.toMatchObject({ code: 'EEXIST' });
    await cluster.stop();
  });
});
