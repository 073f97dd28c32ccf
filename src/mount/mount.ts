// One entry to `govfs mount` for either FUSE binding: `kernel` (our own, over /dev/fuse:
// src/mount/kernel/) or `fuse-native` (libfuse 2: fuse-mount.ts). The kernel binding is the
// default: it passes everything fuse-native does and more (the README's "Mount" section).

import type { MountClient } from './client-api.js';
import { MountError, type FuseMountOptions } from './fuse-mount.js';
import type { MountOperations } from './operations.js';

export type MountBinding = 'kernel' | 'fuse-native';
export const MOUNT_BINDINGS: readonly MountBinding[] = ['kernel', 'fuse-native'];
export const DEFAULT_BINDING: MountBinding = 'kernel';

export interface MountOptions extends FuseMountOptions {
  binding?: MountBinding;
  /** The kernel binding only: the file system was unmounted from outside. */
  onUnmounted?: (error: string | null) => void;
}

/** A mounted govfs, whichever binding serves it. */
export interface Mounted {
  readonly mountpoint: string;
  readonly operations: MountOperations;
  stop(): Promise<void>;
}

/** The binding named (`--binding`, $GOVFS_MOUNT_BINDING), or a MountError listing the names. */
export function parseBinding(name: string | undefined): MountBinding {
  if (name === undefined || name === '') return DEFAULT_BINDING;
  if ((MOUNT_BINDINGS as readonly string[]).includes(name)) return name as MountBinding;
  throw new MountError('EINVAL', `unknown FUSE binding "${name}": use ${MOUNT_BINDINGS.join(' or ')}`);
}

/** Check that the binding can load here (before connecting to the cluster). */
export async function checkBinding(binding: MountBinding): Promise<void> {
  if (binding === 'fuse-native') {
    (await import('./fuse-mount.js')).loadFuse();
    return;
  }
  const why = (await import('./kernel/device.js')).missingForKernelMount();
  if (why) throw new MountError(why.code, why.message);
}

export async function mount(mountpoint: string, client: MountClient, opts: MountOptions): Promise<Mounted> {
  if ((opts.binding ?? DEFAULT_BINDING) === 'fuse-native') return (await import('./fuse-mount.js')).FuseMount.start(mountpoint, client, opts);
  return (await import('./kernel/kernel-mount.js')).KernelMount.start(mountpoint, client, opts);
}
