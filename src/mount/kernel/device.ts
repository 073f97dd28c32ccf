// /dev/fuse: open it, mount it with the kernel's `fuse` file system type, read requests off it
// and write replies to it, unmount.
//
// Mounting: `mount -i -t fuse -o fd=3,...` with the opened device as the child's fd 3 (the
// kernel takes the mount's connection from that fd; -i keeps mount(8) from looking for a
// mount.fuse helper). Only root may do this without fusermount; we check first.
//
// Reading: a read of /dev/fuse blocks until the kernel has a request. It runs in a worker thread
// of its own (a few lines of JavaScript, below), which posts each request to this thread and
// reads the next at once, so slow operations never hold up the others and no thread of libuv's
// small pool is kept blocked (the mount's own process may also be a test that uses that pool on
// the mount). Replies are written synchronously: a write to /dev/fuse does not block.

import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, write, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { MountError } from '../fuse-mount.js';

/** Each read must have room for the largest request: a WRITE of max_write bytes, its header
 * and struct. */
export function readBufferSize(maxWrite: number): number {
  return maxWrite + 4096;
}

// The reader thread. ENOENT: the request was interrupted before we read it; EINTR and EAGAIN:
// read again. ENODEV: the file system was unmounted, the end.
const READER = `
const { readSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { fd, size } = workerData;
const buf = Buffer.allocUnsafe(size);
for (;;) {
  let n;
  try {
    n = readSync(fd, buf, 0, size, null);
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'EINTR' || e.code === 'EAGAIN') continue;
    parentPort.postMessage({ end: e.code === 'ENODEV' ? null : String(e.message) });
    break;
  }
  // A copy of the n bytes read, handed over without another copy; buf is read into again.
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + n);
  parentPort.postMessage({ data: ab }, [ab]);
}
`;

export interface FuseDeviceOptions {
  allowOther: boolean;
  /** The largest WRITE the kernel may send (negotiated in INIT; the read buffer follows it). */
  maxWrite: number;
}

/** An open, mounted /dev/fuse. */
export class FuseDevice {
  private reader: Worker | null = null;
  private closed = false;
  /** Notifications not yet written: the fd is closed only after them (its number could be
   * reused by another file meanwhile). */
  private notifying = 0;
  private notified: (() => void) | null = null;

  private constructor(
    readonly mountpoint: string,
    readonly fd: number,
  ) {}

  /** Open /dev/fuse and mount it at `mountpoint` (an absolute, existing directory). */
  static async mount(mountpoint: string, opts: FuseDeviceOptions): Promise<FuseDevice> {
    const why = missingForKernelMount();
    if (why) throw new MountError(why.code, `mount ${mountpoint}: ${why.message}`);
    let fd: number;
    try {
      fd = openSync('/dev/fuse', 'r+');
    } catch (e) {
      throw new MountError('ENODEV', `mount ${mountpoint}: cannot open /dev/fuse (${(e as Error).message})`);
    }
    try {
      await runMount(mountpoint, fd, opts.allowOther);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new FuseDevice(mountpoint, fd);
  }

  /** Start reading requests: each is handed to `onRequest`; `onEnd` once the file system is
   * unmounted (null) or the device failed (the reason). */
  start(bufferSize: number, onRequest: (buf: Buffer) => void, onEnd: (error: string | null) => void): void {
    const w = new Worker(READER, { eval: true, workerData: { fd: this.fd, size: bufferSize } });
    w.unref();
    w.on('message', (m: { data?: ArrayBuffer; end?: string | null }) => {
      if (m.data) onRequest(Buffer.from(m.data));
      else if (m.end !== undefined) onEnd(m.end);
    });
    w.on('error', (e) => onEnd(e.message));
    this.reader = w;
  }

  /** Write one reply or notification. False if the kernel refused it: the request was
   * interrupted or aborted (ENOENT), or the mount is gone. */
  write(buf: Buffer): boolean {
    if (this.closed) return false;
    try {
      writeSync(this.fd, buf);
      return true;
    } catch {
      return false;
    }
  }

  /** Write a notification from libuv's pool, never this thread: the kernel may block it until
   * we answer a request that holds the file's pages (a READ), which only this thread does.
   * Refusals are ignored: ENOENT for an inode the kernel has forgotten is no error. */
  notify(buf: Buffer): void {
    if (this.closed) return;
    this.notifying++;
    write(this.fd, buf, 0, buf.length, null, () => {
      if (--this.notifying === 0) this.notified?.();
    });
  }

  /** Unmount (lazily when busy) and close the device. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Keep answering while umount(8) runs: it stats the mount point through us.
    await unmountKernel(this.mountpoint);
    this.closed = true;
    // Unmounted: the kernel refuses what is still pending (bounded all the same: never a hang).
    if (this.notifying > 0) await new Promise<void>((r) => ((this.notified = r), setTimeout(r, 2_000).unref()));
    await this.reader?.terminate().catch(() => undefined);
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** Why this process cannot mount through /dev/fuse itself, or null. */
export function missingForKernelMount(): { code: string; message: string } | null {
  if (process.platform !== 'linux') return { code: 'ENOSYS', message: 'the kernel FUSE binding runs on Linux only' };
  if (!existsSync('/dev/fuse')) return { code: 'ENODEV', message: 'no FUSE device (/dev/fuse): load the fuse module or give the container the device' };
  if (process.getuid?.() !== 0) return { code: 'EPERM', message: 'the kernel FUSE binding mounts with mount(8) and must run as root (or use --binding fuse-native)' };
  return null;
}

function runMount(mountpoint: string, fd: number, allowOther: boolean): Promise<void> {
  const opts = [`fd=3`, `rootmode=40000`, `user_id=0`, `group_id=0`, 'default_permissions'];
  if (allowOther) opts.push('allow_other');
  return new Promise((done, fail) => {
    const child = spawn('mount', ['-i', '-t', 'fuse.govfs', '-o', opts.join(','), 'govfs', mountpoint], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => fail(new MountError('ENOSYS', `mount ${mountpoint}: cannot run mount(8): ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) return done();
      const msg = err.trim();
      if (/busy|already mounted/i.test(msg)) fail(new MountError('EBUSY', `mount ${mountpoint}: something is mounted there already (${msg})`));
      else fail(new MountError('EIO', `mount ${mountpoint}: mount(8) failed (exit ${code}): ${msg}`));
    });
  });
}

/** Whether something is mounted at `dir`. */
export function mountedAt(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === dir);
  } catch {
    return false;
  }
}

/** umount, or umount -l when the mount is busy (open files keep working until closed). */
export async function unmountKernel(mountpoint: string): Promise<void> {
  const run = (args: string[]) =>
    new Promise<string | null>((done) => {
      execFile('umount', args, { timeout: 10_000 }, (e, _o, stderr) => done(e ? (stderr || e.message).trim() : null));
    });
  if (!mountedAt(mountpoint)) return;
  const first = await run([mountpoint]);
  if (first === null || !mountedAt(mountpoint)) return;
  const lazy = await run(['-l', mountpoint]);
  if (lazy !== null && mountedAt(mountpoint)) throw new MountError('EBUSY', `could not unmount ${mountpoint} (${first}; ${lazy})`);
}
