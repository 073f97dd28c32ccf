// Nodes in separate network namespaces joined by veth pairs, the minister's link cut and healed
// (bin/netns-demo.sh). Needs root and ip netns / bridges; skipped where they are not
// available (or with GOVFS_SKIP_NETNS=1).

import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../bin/netns-demo.sh', import.meta.url));

function netnsAvailable(): boolean {
  if (process.env.GOVFS_SKIP_NETNS || process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = `govfs-probe-${process.pid}`;
  const ok = spawnSync('sh', ['-c', `ip netns add ${probe} && ip link add ${probe.slice(0, 15)} type bridge && ip link del ${probe.slice(0, 15)} && ip netns del ${probe}`], { stdio: 'ignore' }).status === 0;
  spawnSync('sh', ['-c', `ip netns del ${probe}; ip link del ${probe.slice(0, 15)}`], { stdio: 'ignore' });
  return ok;
}

describe.skipIf(!netnsAvailable())('network namespaces', () => {
  it('five nodes in namespaces: the minister\'s link is cut, a new minister serves, the node rejoins when healed', async () => {
    const child = spawn(SCRIPT, ['5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 150_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    expect(code, out).toBe(0);
    expect(out).toMatch(/== cut: the minister (n\d) loses its link/);
    expect(out).toMatch(/4 of 5 nodes up/);
    expect(out).toMatch(/after-the-cut\nf\n/);
    expect(out).toMatch(/== heal[\s\S]*5 of 5 nodes up/);
    expect(out).toMatch(/== done/);
  }, 180_000);
});
