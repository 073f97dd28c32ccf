// Running bin/govfs as a child process: one-shot commands with their exit code and output, and
// long-running ones (cluster, node) whose output lines can be waited for.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GOVFS = fileURLToPath(new URL('../../bin/govfs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The environment for children: no inherited log level (tests set their own). */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!extra.GOVFS_LOG) delete env.GOVFS_LOG;
  return env;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `govfs ARGS...` to completion. */
export function govfs(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GOVFS, ...args], { cwd: ROOT, env: childEnv(env), timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run `govfs ARGS...` with `input` on its stdin; stdout as bytes. */
export function govfsPiped(args: string[], input: Uint8Array, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GOVFS, ...args], { cwd: ROOT, env: childEnv(env), timeout: timeoutMs });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(input);
  });
}

/** A long-running govfs process (cluster or node). */
export class GovfsProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [GOVFS, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait until stdout matches `re`; returns the match. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(re);
      if (m) return m;
      if (!this.running) throw new Error(`govfs exited before printing ${re}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`govfs did not print ${re} within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Send `signal` (this process only, by pid) and wait for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exit;
    clearTimeout(timer);
    return r;
  }
}

/** Free TCP ports on loopback (bound then released: good enough for tests). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What `govfs node` processes of one cluster share: a secret file in `dir`, a free loopback
 * port per id, and the --peers list naming them. */
export async function nodePlan(ids: readonly string[], dir: string, secret: string): Promise<{ secretFile: string; addr: Record<string, string>; peers: string }> {
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${secret}\n`);
  const ports = await freePorts(ids.length);
  const addr = Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  return { secretFile, addr, peers: ids.map((id) => `${id}=${addr[id]}`).join(',') };
}
