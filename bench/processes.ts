// Processes a benchmark starts and stops (govfs, and the peers of `bench peers`), and free
// loopback ports for them.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOVFS = join(ROOT, 'bin/govfs');

export class Proc {
  readonly child: ChildProcess;
  out = '';
  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.stdout!.on('data', (c: Buffer) => (this.out += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.out += c.toString()));
  }
  /** `govfs ARGS` (bin/govfs), its logs silenced. */
  static govfs(args: string[]): Proc {
    return new Proc(process.execPath, [GOVFS, ...args], { GOVFS_LOG: 'silent' });
  }
  async waitFor(re: RegExp, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!re.test(this.out)) {
      if (this.child.exitCode !== null) throw new Error(`${this.child.spawnfile} exited early:\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`${this.child.spawnfile} did not print ${re} in ${ms} ms:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
}

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((r) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => r(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
