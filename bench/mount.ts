// `npm run bench -- mount [--quick] [--files N] [--json] [--binding kernel|fuse-native]` (issue 18): small-file work through
// `govfs mount` beside the same work on the local disk, in the same run. A deterministic tree
// of N small files (default 10,000; --quick 1,000; test/mount/tree.ts) is tarred on the local
// disk, then in each place: `tar -xf` (untar), `find -type f | wc -l`, `find -exec stat` of
// every entry, `rm -r`; each timed as wall-clock ops/s (an op is one entry: created, listed,
// statted or removed) with the mount's ratio to the disk. Every step's output is checked (the
// count find prints, one stat line per entry, nothing left after rm). The mount serves a fresh
// `govfs cluster` of 4 nodes on 2 worker threads with its default 1 s attribute and entry
// cache; before the stat step each side waits that long, so the kernel asks the cluster again
// (find's lstat of each entry, and stat's own where that 1 s has run out again).
// The thesis's prototype made ~13 creates/s through its mount: the untar row is the one to
// set beside it (an untarred file is a create, a write, utimens, chown and chmod).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTR_TIMEOUT_S } from '../src/mount/fuse-mount.js';
import { MountedCluster, missingForMount, testBinding, type TestBinding } from '../test/posix/pjdfstest.js';
import { makeTree, run as exec, type Ran, type TreeShape } from '../test/mount/tree.js';

export const describe = 'small files through `govfs mount` beside the local disk: untar, find, stat, rm -r (ops/s, ratio; thesis ~13 creates/s)';

/** The thesis's GovFS prototype: creates per second through its mount. */
export const THESIS_CREATES_PER_S = 13;

export interface StepTimes {
  untar: number;
  find: number;
  stat: number;
  rm: number;
}

export interface MountBenchResult {
  binding: TestBinding;
  files: number;
  /** Entries in the tree: files, directories (with the top one) and symbolic links. */
  entries: number;
  bytes: number;
  /** Seconds per step. */
  local: StepTimes;
  mount: StepTimes;
  /** Entries per second per step. */
  localOps: StepTimes;
  mountOps: StepTimes;
  thesisCreatesPerS: number;
}

const STEPS = ['untar', 'find', 'stat', 'rm'] as const;

function must(r: Ran, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 500)}`);
  return r.stdout;
}

/** The four steps in `dir` (which gets the tree), each timed; throws if a step's output is wrong. */
async function steps(dir: string, tarFile: string, shape: TreeShape, log: (s: string) => void): Promise<StepTimes> {
  const t: StepTimes = { untar: 0, find: 0, stat: 0, rm: 0 };
  const entries = shape.files + shape.dirs + shape.symlinks;
  const timeoutMs = 4 * 3600_000;
  const untar = await exec('tar', ['-xf', tarFile], dir, { timeoutMs });
  must(untar, 'tar -xf');
  t.untar = untar.ms / 1000;
  log(`  untar ${t.untar.toFixed(1)} s`);
  const find = await exec('sh', ['-c', 'find tree -type f | wc -l'], dir, { timeoutMs });
  if (Number(must(find, 'find').trim()) !== shape.files) throw new Error(`find -type f counted ${find.stdout.trim()}, not ${shape.files}`);
  t.find = find.ms / 1000;
  // Past the mount's attribute cache, so that each entry is asked of the cluster again.
  await new Promise((r) => setTimeout(r, ATTR_TIMEOUT_S * 1000 + 100));
  const stat = await exec('sh', ['-c', "find tree -exec stat -c '%s %i' {} + | wc -l"], dir, { timeoutMs });
  if (Number(must(stat, 'find -exec stat').trim()) !== entries) throw new Error(`stat printed ${stat.stdout.trim()} lines, not ${entries}`);
  t.stat = stat.ms / 1000;
  const rm = await exec('rm', ['-r', 'tree'], dir, { timeoutMs });
  must(rm, 'rm -r');
  const left = must(await exec('ls', ['-A'], dir), 'ls');
  if (left.trim() !== '') throw new Error(`rm -r left ${left.trim()}`);
  t.rm = rm.ms / 1000;
  log(`  find ${t.find.toFixed(2)} s, stat ${t.stat.toFixed(2)} s, rm -r ${t.rm.toFixed(1)} s`);
  return t;
}

function perSecond(t: StepTimes, shape: TreeShape): StepTimes {
  const entries = shape.files + shape.dirs + shape.symlinks;
  return { untar: entries / t.untar, find: shape.files / t.find, stat: entries / t.stat, rm: entries / t.rm };
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<MountBenchResult> {
  const binding: TestBinding = opts.binding === 'fuse-native' || opts.binding === 'kernel' ? opts.binding : testBinding();
  const missing = missingForMount(binding);
  if (missing) throw new Error(`npm run bench -- mount: ${missing}`);
  const files = Number(opts.files ?? (opts.quick ? 1_000 : 10_000));
  if (!Number.isSafeInteger(files) || files < 1) throw new Error(`--files must be a whole number >= 1, got ${String(opts.files)}`);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'govfs-bench-mount-'));
  let m: MountedCluster | null = null;
  try {
    const shape = makeTree(join(dir, 'src', 'tree'), files);
    const tarFile = join(dir, 'tree.tar');
    must(await exec('tar', ['-cf', tarFile, 'tree'], join(dir, 'src')), 'tar -cf');
    rmSync(join(dir, 'src'), { recursive: true });
    const disk = join(dir, 'disk');
    must(await exec('mkdir', [disk], dir), 'mkdir');
    log(`local disk (${files} files):`);
    const local = await steps(disk, tarFile, shape, log);
    log('starting a cluster and its mount ...');
    m = await MountedCluster.start({ deadlineMs: 30_000, binding });
    log(`govfs mount (${binding} binding, ${files} files):`);
    const mount = await steps(m.mountpoint, tarFile, shape, log);
    return {
      binding,
      files,
      entries: shape.files + shape.dirs + shape.symlinks,
      bytes: shape.bytes,
      local,
      mount,
      localOps: perSecond(local, shape),
      mountOps: perSecond(mount, shape),
      thesisCreatesPerS: THESIS_CREATES_PER_S,
    };
  } finally {
    await m?.stop().catch((e: unknown) => log(`stopping the cluster: ${String(e)}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: MountBenchResult): string {
  const lines = [
    `small files through govfs mount (${r.binding} binding) beside the local disk: ${r.files} files (${r.entries} entries, ${(r.bytes / 1024).toFixed(0)} KiB)`,
    '',
    `${'step'.padEnd(22)} ${'local ops/s'.padStart(12)} ${'mount ops/s'.padStart(12)} ${'mount/local'.padStart(12)} ${'mount s'.padStart(9)}`,
  ];
  const names: Record<(typeof STEPS)[number], string> = { untar: 'tar -xf (creates)', find: 'find -type f | wc -l', stat: 'find -exec stat', rm: 'rm -r' };
  for (const s of STEPS) {
    const ratio = r.mountOps[s] / r.localOps[s];
    lines.push(`${names[s].padEnd(22)} ${r.localOps[s].toFixed(0).padStart(12)} ${r.mountOps[s].toFixed(1).padStart(12)} ${ratio.toFixed(4).padStart(12)} ${r.mount[s].toFixed(1).padStart(9)}`);
  }
  lines.push('', `thesis (GovFS prototype): ~${r.thesisCreatesPerS} creates/s; here ${r.mountOps.untar.toFixed(1)} untarred entries/s (${(r.mountOps.untar / r.thesisCreatesPerS).toFixed(2)}x)`);
  return lines.join('\n');
}
