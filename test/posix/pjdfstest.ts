// pjdfstest (the POSIX conformance suite CephFS, GlusterFS and JuiceFS run) against a govfs
// mount and against this machine's own file system, in the same run (issue 18, point 3).
//
// - buildPjdfstest: copies ../shared/pjdfstest to a build folder outside the repository and
//   builds it there with autoconf/automake (once; later runs reuse the build).
// - startMountedCluster: a fresh `govfs cluster` in a temp data folder and `govfs mount` of it.
// - runSuite: `prove -r -v` over the chosen syscall directories with the working directory in
//   the file system under test, parsed into passed/total per directory and per file.
// Used by `npm run posix` (test/posix/run.ts) and the CI subset (test/posix/posix.test.ts).

import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GovfsProcess, until } from '../cli/helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The syscall directories of issue 18's acceptance list. */
export const ISSUE_DIRS = ['chmod', 'chown', 'link', 'mkdir', 'open', 'rename', 'rmdir', 'symlink', 'truncate', 'unlink', 'utimensat'] as const;

/** Where pjdfstest's source is: $PJDFSTEST_SRC, or shared/ beside the checkout (CI) or
 * beside its parent (a worktree). */
export function pjdfstestSource(): string | null {
  const candidates = [process.env.PJDFSTEST_SRC, join(ROOT, '..', 'shared', 'pjdfstest'), join(ROOT, '..', '..', 'shared', 'pjdfstest')];
  for (const c of candidates) if (c && existsSync(join(c, 'pjdfstest.c')) && existsSync(join(c, 'tests'))) return resolve(c);
  return null;
}

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why pjdfstest cannot run through a mount here, or null when it can. */
export function missingForPosix(binding: TestBinding = testBinding()): string | null {
  if (process.platform !== 'linux') return 'pjdfstest through a FUSE mount runs on Linux only';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine (FUSE is not available)';
  if (process.getuid?.() !== 0) return 'pjdfstest switches users: it must run as root';
  if (!pjdfstestSource()) return 'no pjdfstest source (../shared/pjdfstest or $PJDFSTEST_SRC)';
  const tools = ['autoreconf', 'automake', 'make', 'cc', 'prove'].filter((t) => !have(t));
  if (tools.length > 0) return `missing build tools: ${tools.join(', ')} (Debian: apt-get install autoconf automake build-essential perl)`;
  return missingForMount(binding);
}

/** The FUSE binding the mount tests use: $GOVFS_MOUNT_BINDING, else govfs's default. */
export type TestBinding = 'kernel' | 'fuse-native';
export function testBinding(): TestBinding {
  return process.env.GOVFS_MOUNT_BINDING === 'fuse-native' ? 'fuse-native' : 'kernel';
}

/** Why `govfs mount` with `binding` cannot run here (no /dev/fuse, not root; for fuse-native
 * no libfuse 2 or package), or null. */
export function missingForMount(binding: TestBinding = testBinding()): string | null {
  if (process.platform !== 'linux') return 'FUSE mounts are tested on Linux only';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine (FUSE is not available)';
  if (process.getuid?.() !== 0) return 'mounting with allow_other needs root';
  if (binding === 'kernel') return null;
  const libfuse = ['/usr/lib/x86_64-linux-gnu/libfuse.so.2', '/lib/x86_64-linux-gnu/libfuse.so.2', '/usr/lib/aarch64-linux-gnu/libfuse.so.2', '/usr/lib/libfuse.so.2'];
  if (!libfuse.some((f) => existsSync(f))) return 'libfuse 2 is not installed (Debian: apt-get install libfuse2)';
  if (!existsSync(join(ROOT, 'node_modules', 'fuse-native'))) return 'the fuse-native package is not installed (npm ci)';
  return null;
}

/** Build pjdfstest (once) in a folder outside the repository; returns that folder, which holds
 * the `pjdfstest` binary and `tests/`. */
export function buildPjdfstest(log: (s: string) => void = () => {}): string {
  const src = pjdfstestSource();
  if (!src) throw new Error('no pjdfstest source found (../shared/pjdfstest or $PJDFSTEST_SRC)');
  const dir = process.env.PJDFSTEST_BUILD ?? join(tmpdir(), 'govfs-pjdfstest-build');
  const binary = join(dir, 'pjdfstest');
  const stamp = `${src}\n${statSync(join(src, 'pjdfstest.c')).mtimeMs}`;
  const stampFile = join(dir, '.govfs-built-from');
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return dir;
  log(`building pjdfstest in ${dir} ...`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('cp', ['-R', `${src}/.`, dir]);
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  // The shared copy is read-only in CI: give the copy write bits before autoreconf writes.
  sh('chmod -R u+w . && autoreconf -ifs && ./configure && make pjdfstest');
  execFileSync('sh', ['-c', `printf '%s' "$1" > .govfs-built-from`, 'sh', stamp], { cwd: dir });
  return dir;
}

export interface FileResult {
  file: string;
  passed: number;
  total: number;
  /** The first few failures, as TAP says them. */
  failures: string[];
  /** Failures by what the call answered instead ("got ENOSYS" -> ENOSYS; "other" for checks
   * of a value, such as a stat field, and calls that succeeded where an error was due). */
  got: Record<string, number>;
}

export interface DirResult {
  dir: string;
  passed: number;
  total: number;
  files: FileResult[];
  got: Record<string, number>;
  seconds: number;
}

/** Add counts of `b` into `a`. */
function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

/** Parse `prove -v` output: per test file, its plan and ok / not ok lines. A "not ok" with a
 * TODO directive counts as passed, as prove counts it; tests a file never reached (it died)
 * count as failed. */
export function parseProve(output: string): FileResult[] {
  const files: FileResult[] = [];
  let cur: (FileResult & { planned: number | null; seen: number }) | null = null;
  const finish = () => {
    if (cur) {
      const total = Math.max(cur.planned ?? 0, cur.seen);
      // Tests never reached (the script died) count as failed.
      if (total > cur.seen) cur.got['not run'] = (cur.got['not run'] ?? 0) + total - cur.seen;
      files.push({ file: cur.file, passed: cur.passed, total, failures: cur.failures, got: cur.got });
    }
    cur = null;
  };
  const tap = (line: string) => {
    if (!cur) return;
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan) {
      cur.planned = Number(plan[1]);
      return;
    }
    const t = /^(not )?ok\s+\d+(.*)$/.exec(line);
    if (!t) return;
    cur.seen++;
    if (!t[1] || /#\s*TODO/i.test(t[2] ?? '')) {
      cur.passed++;
      return;
    }
    const got = /, got (\w+)\s*$/.exec(line)?.[1];
    const key = got && /^E[A-Z0-9]+$/.test(got) ? got : 'other';
    cur.got[key] = (cur.got[key] ?? 0) + 1;
    if (cur.failures.length < 5) cur.failures.push(line.trim());
  };
  for (const line of output.split('\n')) {
    const header = /^(\S+\.t) \.\.+\s?(.*)$/.exec(line);
    if (header) {
      finish();
      cur = { file: header[1]!, passed: 0, total: 0, failures: [], got: {}, planned: null, seen: 0 };
      if (header[2]) tap(header[2]);
      continue;
    }
    if (/^Test Summary Report|^All tests successful|^Files=\d+/.test(line)) {
      finish();
      continue;
    }
    tap(line);
  }
  finish();
  return files;
}

/** Run pjdfstest's tests of each directory with `prove -r`, working in `workDir` (a folder of
 * the file system under test; each directory gets a fresh subfolder). `parallel`: the
 * directories at once (each in its own subfolder, so their names never meet): most of a
 * directory's time is pjdfstest's own sleeps and processes, so 3 directories at once take
 * about as long as the longest (CI subset here: 32 s against 46 s one after another). */
export async function runSuite(pjd: string, workDir: string, dirs: readonly string[], opts: { timeoutMs?: number; log?: (s: string) => void; parallel?: boolean } = {}): Promise<DirResult[]> {
  const one = async (d: string): Promise<DirResult> => {
    const cwd = join(workDir, `run-${d}`);
    mkdirSync(cwd, { recursive: true });
    const started = Date.now();
    const text = await prove(join(pjd, 'tests', d), cwd, opts.timeoutMs ?? 30 * 60_000);
    const files = parseProve(text);
    const r: DirResult = {
      dir: d,
      passed: files.reduce((n, f) => n + f.passed, 0),
      total: files.reduce((n, f) => n + f.total, 0),
      files,
      got: files.reduce((a, f) => addCounts(a, f.got), {} as Record<string, number>),
      seconds: (Date.now() - started) / 1000,
    };
    opts.log?.(`  ${d}: ${r.passed}/${r.total} in ${r.seconds.toFixed(1)} s`);
    return r;
  };
  if (opts.parallel) return Promise.all(dirs.map(one));
  const out: DirResult[] = [];
  for (const d of dirs) out.push(await one(d));
  return out;
}

function prove(testDir: string, cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((done) => {
    const child = spawn('prove', ['-r', '-v', '--merge', testDir], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done(text);
    });
  });
}

/** The file system type of `dir` as df names it (ext4, tmpfs, overlay, fuse.govfs). */
export function fsType(dir: string): Promise<string> {
  return new Promise((done) => {
    execFile('df', ['-PT', dir], (e, stdout) => done(e ? '?' : (stdout.trim().split('\n').pop()?.split(/\s+/)[1] ?? '?')));
  });
}

/** Whether something is mounted at `dir` (a dead FUSE mount too, which df cannot stat). */
export function isMounted(dir: string): boolean {
  const target = resolve(dir);
  try {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === target);
  } catch {
    return false;
  }
}

async function startMount(mountpoint: string, server: string, deadlineMs: number, env: Record<string, string> | undefined, binding: TestBinding): Promise<GovfsProcess> {
  const mount = new GovfsProcess(['mount', mountpoint, '--server', server, '--allow-other', '--timeout', String(deadlineMs), '--binding', binding], env);
  try {
    await mount.waitFor(/govfs mounted at/, 60_000);
    await until(async () => isMounted(mountpoint), `${mountpoint} mounted`, 30_000);
    return mount;
  } catch (e) {
    await mount.stop('SIGTERM');
    throw e;
  }
}

/** A fresh cluster in a temp data folder, mounted at a temp mount point. */
export class MountedCluster {
  private constructor(
    readonly dir: string,
    readonly mountpoint: string,
    readonly server: string,
    readonly cluster: GovfsProcess,
    public mount: GovfsProcess,
    private readonly deadlineMs: number,
    private readonly env: Record<string, string> | undefined,
    readonly binding: TestBinding,
  ) {}

  /** `ministries`: static ministries besides the root's, as `govfs cluster --ministry` takes them
   * (`/b:1`); `nodes` must be enough to staff them. */
  static async start(opts: { nodes?: number; ministries?: string[]; deadlineMs?: number; env?: Record<string, string>; binding?: TestBinding } = {}): Promise<MountedCluster> {
    const binding = opts.binding ?? testBinding();
    const dir = mkdtempSync(join(tmpdir(), 'govfs-mount-'));
    const mountpoint = join(dir, 'mnt');
    mkdirSync(mountpoint);
    const cluster = new GovfsProcess(['cluster', '--nodes', String(opts.nodes ?? 4), '--threads', '2', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', ...(opts.ministries ?? []).flatMap((m) => ['--ministry', m])], opts.env);
    try {
      const server = (await cluster.waitFor(/clients connect to (127\.0\.0\.1:\d+)/, 60_000))[1]!;
      await cluster.waitFor(/^ready: president n\d/m, 90_000);
      const mount = await startMount(mountpoint, server, opts.deadlineMs ?? 10_000, opts.env, binding);
      return new MountedCluster(dir, mountpoint, server, cluster, mount, opts.deadlineMs ?? 10_000, opts.env, binding);
    } catch (e) {
      if (isMounted(mountpoint)) await new Promise((r) => execFile('umount', ['-l', mountpoint], r));
      await cluster.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Start `govfs mount` again (after the last one was stopped or killed). */
  async remount(): Promise<void> {
    this.mount = await startMount(this.mountpoint, this.server, this.deadlineMs, this.env, this.binding);
  }

  /** Unmount (SIGTERM to the mount), stop the cluster, remove the temp folder. */
  async stop(): Promise<void> {
    await this.mount.stop('SIGTERM', 20_000);
    if (isMounted(this.mountpoint)) {
      // The mount process died without unmounting: do not leave a dead mount behind.
      await new Promise((r) => execFile('umount', ['-l', this.mountpoint], r));
    }
    await this.cluster.stop('SIGINT', 30_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
