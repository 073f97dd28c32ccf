// `npm run posix [-- --dirs chmod,mkdir,... --json]`: pjdfstest through a govfs mount of a fresh
// local cluster, beside the same tests on a temp folder of this machine's own file system, in
// one run; a table of tests passed / total per syscall directory (test/posix/pjdfstest.ts).
// Exit 0 when both sides ran (whatever passed), 1 when the suite could not run at all.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ISSUE_DIRS, MountedCluster, buildPjdfstest, fsType, missingForPosix, runSuite, type DirResult, type TestBinding } from './pjdfstest.js';

const HELP = `npm run posix -- [--dirs chmod,mkdir,...] [--json] [--no-local] [--binding kernel|fuse-native]

Builds pjdfstest (../shared/pjdfstest) outside the repository, starts a fresh govfs cluster in
a temp data folder, mounts it, and runs pjdfstest's tests of each syscall directory with prove,
through the mount and on a temp folder of this machine's own file system. Prints passed/total
per directory for both. Needs root, /dev/fuse, libfuse2, autoconf, automake, make, cc and prove.
  --dirs LIST   syscall directories (default: ${ISSUE_DIRS.join(',')})
  --json        the results as JSON (with each file's count and first failures)
  --no-local    skip the run on the local file system
  --binding B   the mount's FUSE binding: kernel (govfs's own, the default) or fuse-native`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const last = rows[0]!.length - 1;
  return rows.map((r) => r.map((c, i) => (i === 0 || i === last ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ').trimEnd()).join('\n');
}

const cell = (r: DirResult | undefined): string => (r ? `${r.passed}/${r.total}` : '-');

/** The commonest answers of failed tests: "ENOSYS 120, EPERM 30, ...". */
function causes(got: Record<string, number>): string {
  return Object.entries(got)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dirs: { type: 'string' }, json: { type: 'boolean' }, 'no-local': { type: 'boolean' }, binding: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void console.log(HELP);
  const dirs = values.dirs ? values.dirs.split(',').map((d) => d.trim()).filter(Boolean) : [...ISSUE_DIRS];
  const binding: TestBinding = values.binding === 'fuse-native' ? 'fuse-native' : 'kernel';
  if (values.binding !== undefined && values.binding !== binding) throw new Error(`--binding: kernel or fuse-native, not ${values.binding}`);
  const missing = missingForPosix(binding);
  if (missing) {
    console.error(`posix: cannot run: ${missing}`);
    process.exitCode = 1;
    return;
  }
  const log = (s: string) => console.error(s);
  const pjd = buildPjdfstest(log);
  const started = Date.now();
  let local: DirResult[] = [];
  let localType = '';
  if (!values['no-local']) {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-posix-local-'));
    localType = await fsType(dir);
    log(`pjdfstest on the local file system (${localType}, ${dir}):`);
    try {
      local = await runSuite(pjd, dir, dirs, { log });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  log('starting a govfs cluster and mounting it ...');
  const mounted = await MountedCluster.start({ binding });
  let mount: DirResult[];
  try {
    log(`pjdfstest through the govfs mount (${mounted.mountpoint}, ${binding} binding):`);
    mount = await runSuite(pjd, mounted.mountpoint, dirs, { log });
  } finally {
    await mounted.stop();
  }
  const seconds = (Date.now() - started) / 1000;
  if (values.json) {
    console.log(JSON.stringify({ dirs, localFs: localType, mount, local, seconds }, null, 2));
    return;
  }
  const sum = (rs: DirResult[]) => ({ passed: rs.reduce((n, r) => n + r.passed, 0), total: rs.reduce((n, r) => n + r.total, 0) });
  const rows = [['pjdfstest', 'govfs mount', ...(local.length ? [`local (${localType})`] : []), 'failures through the mount answered']];
  for (const d of dirs) {
    const r = mount.find((x) => x.dir === d);
    rows.push([d, cell(r), ...(local.length ? [cell(local.find((x) => x.dir === d))] : []), causes(r?.got ?? {})]);
  }
  const m = sum(mount);
  const l = sum(local);
  const all: Record<string, number> = {};
  for (const r of mount) for (const [k, v] of Object.entries(r.got)) all[k] = (all[k] ?? 0) + v;
  rows.push(['total', `${m.passed}/${m.total}`, ...(local.length ? [`${l.passed}/${l.total}`] : []), causes(all)]);
  console.log(table(rows));
  console.log(`(tests passed / tests run, per syscall directory; ${seconds.toFixed(0)} s in all)`);
}

main().catch((e: unknown) => {
  console.error(`posix: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
