// `govfs mount` on the command line: its help, usage errors, and what it says when the mount
// point or the cluster is missing (no FUSE needed for any of these).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts, govfs } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-cli-mount-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('govfs mount command line', () => {
  it('has --help', async () => {
    const r = await govfs(['mount', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^govfs mount MOUNTPOINT/);
    expect(r.stdout).toMatch(/default_permissions/);
  });

  it('wants exactly one mount point (exit 2)', async () => {
    const r = await govfs(['mount']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mount needs one MOUNTPOINT/);
  });

  it('an unknown --binding is a usage error (exit 2)', async () => {
    const r = await govfs(['mount', dir, '--binding', 'fuse3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown FUSE binding "fuse3" \(kernel or fuse-native\)/);
  });

  it('a missing mount point is said before connecting (exit 1)', async () => {
    const r = await govfs(['mount', join(dir, 'nope'), '--server', '127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope: no such directory \(make it first\)/);
  });

  it('a cluster that is not there is said, and nothing is mounted (exit 1)', async () => {
    const [port] = await freePorts(1);
    const r = await govfs(['mount', dir, '--server', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    // Where the FUSE binding cannot load, that is said first instead.
    expect(r.stderr).toMatch(/cannot reach the cluster at 127\.0\.0\.1:\d+|FUSE binding/);
  });
});
