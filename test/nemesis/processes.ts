// The nemesis's fleet of `govfs node` processes: one per node, each with its own data folder
// under a temp dir, all on loopback ports (or, with the netns network, each in a network
// namespace of its own: see network.ts). It starts, kills, pauses and restarts them, records
// every exit with whether the nemesis caused it, and stops them all at the end — also when the
// run fails or is interrupted (stopAllSync, for an 'exit' handler), so no process outlives it.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type ClusterStatusView, type RemoteGovClient } from '../../src/index.js';
import type { Network } from './network.js';

export const GOVFS = fileURLToPath(new URL('../../bin/govfs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ExitRecord {
  node: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms since the run began (monotonic). */
  at: number;
  /** The nemesis (or the final stop) caused it. */
  expected: boolean;
  /** The last lines of its stderr. */
  stderrTail: string;
}

export interface StartExtras {
  /** Extra environment (e.g. libfaketime's). */
  env?: Record<string, string>;
}

export class NodeProc {
  readonly child: ChildProcess;
  stderr = '';
  stdout = '';
  /** Set before the nemesis signals it, so its exit counts as caused. */
  expectExit = false;
  paused = false;
  readonly exited: Promise<ExitRecord>;

  constructor(readonly id: string, argv: string[], env: NodeJS.ProcessEnv, now: () => number, onExit: (r: ExitRecord) => void) {
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout = (this.stdout + c.toString()).slice(-20_000)));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-200_000)));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const r: ExitRecord = { node: id, pid: this.child.pid ?? -1, code, signal, at: now(), expected: this.expectExit, stderrTail: this.stderr.split('\n').slice(-40).join('\n') };
        onExit(r);
        resolve(r);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }
}

export interface FleetOptions {
  nodes: number;
  /** Static ministries besides the root (e.g. /m1 with 0 clerks). */
  ministries: { subtree: string; clerks: number }[];
  /** Where data folders and the secret go. */
  dir: string;
  network: Network;
  /** Data folders that must be elsewhere (e.g. a small tmpfs): id → folder. */
  dataDirs?: Record<string, string>;
  /** Extra environment per node, on every start (e.g. libfaketime's). */
  env?: Record<string, Record<string, string>>;
  /** Milliseconds since the run began. */
  now: () => number;
  log: (line: string) => void;
}

export const nodeIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

/** The processes of one cluster. */
export class Fleet {
  readonly ids: string[];
  readonly procs = new Map<string, NodeProc>();
  readonly exits: ExitRecord[] = [];
  /** Every pid the fleet ever started (a test checks none is left). */
  readonly pids: number[] = [];
  private readonly secretFile: string;
  private readonly peers: string;

  constructor(private readonly opts: FleetOptions) {
    this.ids = nodeIds(opts.nodes);
    this.secretFile = join(opts.dir, 'secret');
    writeFileSync(this.secretFile, 'the nemesis cluster secret, 32+ bytes\n', { mode: 0o600 });
    this.peers = this.ids.map((id) => `${id}=${opts.network.address(id)}`).join(',');
  }

  dataDir(id: string): string {
    return this.opts.dataDirs?.[id] ?? join(this.opts.dir, id);
  }

  get servers(): string[] {
    return this.ids.map((id) => this.opts.network.address(id));
  }

  /** Build the command line's bundle once, so N nodes starting at once do not all build it. */
  static prebuild(): void {
    execFileSync(process.execPath, [GOVFS, '--help'], { cwd: ROOT, stdio: 'ignore' });
  }

  start(id: string, extras: StartExtras = {}): NodeProc {
    const old = this.procs.get(id);
    if (old?.running) throw new Error(`nemesis: ${id} is still running (pid ${old.pid})`);
    mkdirSync(this.dataDir(id), { recursive: true });
    const args = [process.execPath, GOVFS, 'node', '--id', id, '--peers', this.peers, '--listen', this.opts.network.listen(id), '--data', this.dataDir(id), '--secret-file', this.secretFile, '--log', 'info'];
    for (const m of this.opts.ministries) args.push('--ministry', `${m.subtree}:${m.clerks}`);
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.opts.env?.[id], ...extras.env };
    delete env.GOVFS_LOG;
    const p = new NodeProc(id, [...this.opts.network.wrap(id), ...args], env, this.opts.now, (r) => {
      this.exits.push(r);
      if (!r.expected) this.opts.log(`node ${id} (pid ${r.pid}) exited unexpectedly: code ${r.code} signal ${r.signal}`);
    });
    this.pids.push(p.pid);
    this.procs.set(id, p);
    return p;
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  proc(id: string): NodeProc {
    const p = this.procs.get(id);
    if (!p) throw new Error(`nemesis: no process for ${id}`);
    return p;
  }

  /** SIGKILL, and wait for the exit. */
  async kill(id: string): Promise<void> {
    const p = this.proc(id);
    p.expectExit = true;
    if (p.paused) p.signal('SIGCONT');
    p.signal('SIGKILL');
    await p.exited;
  }

  pause(id: string): void {
    const p = this.proc(id);
    p.paused = true;
    p.signal('SIGSTOP');
  }

  resume(id: string): void {
    const p = this.proc(id);
    p.paused = false;
    p.signal('SIGCONT');
  }

  /** SIGTERM (a clean stop), SIGKILL after `graceMs`. */
  async stop(id: string, graceMs = 5_000): Promise<void> {
    const p = this.procs.get(id);
    if (!p || !p.running) return;
    p.expectExit = true;
    if (p.paused) this.resume(id);
    p.signal('SIGTERM');
    const timer = setTimeout(() => p.signal('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  async stopAll(graceMs = 5_000): Promise<void> {
    await Promise.all(this.ids.map((id) => this.stop(id, graceMs)));
  }

  /** For a process 'exit' handler: SIGKILL whatever still runs (synchronous). */
  stopAllSync(): void {
    for (const p of this.procs.values()) {
      if (!p.running) continue;
      p.expectExit = true;
      try {
        process.kill(p.pid, 'SIGCONT');
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Exits the nemesis did not cause. */
  unexpectedExits(): ExitRecord[] {
    return this.exits.filter((e) => !e.expected);
  }
}

/** Is every ministry served (a president, every ministry up with its minister)? */
export function everyMinistryServing(st: ClusterStatusView, subtrees: readonly string[]): boolean {
  if (!st.president) return false;
  return subtrees.every((s) => {
    const m = st.ministries.find((x) => x.subtree === s);
    return m !== undefined && !m.down && m.minister !== '';
  });
}

/** Poll `fn` until it answers truthy or `timeoutMs` passes (then null). */
export async function within<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A client for watching the cluster (status) over every node. */
export async function watcher(servers: string[]): Promise<RemoteGovClient> {
  const c = await within(() => connect(servers, { deadlineMs: 5_000, requestTimeoutMs: 1_000, connectTimeoutMs: 1_000 }), 60_000, 250);
  if (!c) throw new Error(`nemesis: no node answered at ${servers.join(', ')} within 60 s`);
  return c;
}
