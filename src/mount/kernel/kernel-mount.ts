// `govfs mount --binding kernel`: govfs's own FUSE binding, speaking the kernel's protocol over
// /dev/fuse (device.ts, protocol.ts, session.ts) instead of libfuse 2 through fuse-native. What
// it gives that fuse-native cannot: the caller's uid, gid and groups on every call (files
// belong to who made them; the servers check permissions as the caller), times in nanoseconds
// with UTIME_NOW and UTIME_OMIT apart and both times of utimensat, 64-bit inode numbers used
// as the kernel's nodeids (hard links are one kernel inode). Root only (it mounts with
// mount(8)).

import { checkMountpoint, type FuseMountOptions } from '../fuse-mount.js';
import type { MountClient } from '../client-api.js';
import { MountOperations } from '../operations.js';
import { statSync } from 'node:fs';
import { FuseDevice, readBufferSize, unmountKernel } from './device.js';
import { KernelSession } from './session.js';

/** Attribute and entry cache lifetime, seconds: the client tells us of no other client's
 * metadata change, so another client's change shows through the mount after at most this.
 * Files open with a lease are the exception: a revocation drops their attributes and pages at
 * once (FUSE_NOTIFY_INVAL_INODE; session.ts). */
export const KERNEL_ATTR_TIMEOUT_S = 1;
export const KERNEL_ENTRY_TIMEOUT_S = 1;
/** The largest WRITE the kernel sends us (and so each read's buffer, plus a page). */
export const KERNEL_MAX_WRITE = 128 * 1024;

export interface KernelMountOptions extends FuseMountOptions {
  /** Called once if the file system is unmounted from outside (umount by hand). */
  onUnmounted?: (error: string | null) => void;
  /** Drop the kernel's caches of an open file when its lease is revoked (default: true, or
   * $GOVFS_MOUNT_INVALIDATE=0 for the timeouts alone, to measure the difference). */
  invalidate?: boolean;
}

export class KernelMount {
  private stopping = false;

  private constructor(
    readonly mountpoint: string,
    private readonly device: FuseDevice,
    readonly operations: MountOperations,
    readonly session: KernelSession,
  ) {}

  static async start(mountpoint: string, client: MountClient, opts: KernelMountOptions): Promise<KernelMount> {
    const mnt = checkMountpoint(mountpoint);
    // A mount left by a mount process that died (ENOTCONN) is unmounted first, as fuse-native's
    // `force` does.
    if (deadMount(mnt)) await unmountKernel(mnt);
    const ops = new MountOperations(client, {
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      leaseDeadlineMs: opts.deadlineMs,
    });
    const device = await FuseDevice.mount(mnt, { allowOther: opts.allowOther ?? false, maxWrite: KERNEL_MAX_WRITE });
    const invalidate = opts.invalidate ?? process.env.GOVFS_MOUNT_INVALIDATE !== '0';
    const session = new KernelSession(
      client,
      ops,
      {
        attrTimeoutS: KERNEL_ATTR_TIMEOUT_S,
        entryTimeoutS: KERNEL_ENTRY_TIMEOUT_S,
        maxWrite: KERNEL_MAX_WRITE,
        onError: opts.onError,
        debug: opts.debug,
        notify: invalidate ? (buf) => device.notify(buf) : undefined,
      },
      (buf) => void device.write(buf),
    );
    const mount = new KernelMount(mnt, device, ops, session);
    device.start(
      readBufferSize(KERNEL_MAX_WRITE),
      (buf) => session.handle(buf),
      (error) => {
        if (!mount.stopping) opts.onUnmounted?.(error);
      },
    );
    return mount;
  }

  /** Give back the leases of open files, then unmount (lazily if busy). */
  async stop(): Promise<void> {
    this.stopping = true;
    const release = this.operations.releaseAll().then(() => this.session.removeHidden());
    await Promise.race([release, new Promise((r) => setTimeout(r, 2_000).unref())]);
    await this.device.close();
  }
}

function deadMount(mnt: string): boolean {
  try {
    statSync(mnt);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}
