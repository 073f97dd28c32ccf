// `govfs mount MOUNTPOINT`: the file system through FUSE (src/mount/), until Ctrl-C or SIGTERM
// unmounts it. Loaded only by this command (the fuse-native binding is native code).

import { CLIENT_OPTIONS, openClient } from './client-commands.js';
import { UsageError, intOption, parse, untilSignal } from './usage.js';

/** One operation's deadline through the mount (ms), unless --timeout says otherwise: a mount
 * whose cluster went away answers EIO after this long instead of hanging the program. */
export const MOUNT_DEADLINE_MS = 10_000;

export async function mountCommand(argv: string[], help: string): Promise<void> {
  const { values, positionals } = parse(argv, { ...CLIENT_OPTIONS, 'allow-other': { type: 'boolean' }, debug: { type: 'boolean' }, binding: { type: 'string' } });
  if (values.help) return void console.log(help);
  if (positionals.length !== 1) throw new UsageError('mount needs one MOUNTPOINT, an existing directory (govfs mount --help)');
  const deadlineMs = intOption(values.timeout, 'timeout') ?? MOUNT_DEADLINE_MS;
  const { checkMountpoint } = await import('../mount/fuse-mount.js');
  const { MOUNT_BINDINGS, checkBinding, mount: mountWith, parseBinding } = await import('../mount/mount.js');
  const named = values.binding ?? process.env.GOVFS_MOUNT_BINDING;
  if (named !== undefined && named !== '' && !(MOUNT_BINDINGS as readonly string[]).includes(named)) throw new UsageError(`--binding: unknown FUSE binding "${named}" (kernel or fuse-native)`);
  const binding = parseBinding(named);
  // Checked before connecting, so a missing binding, libfuse, /dev/fuse or root is said at once.
  checkMountpoint(positionals[0]!);
  await checkBinding(binding);
  const client = await openClient({ ...values, timeout: String(deadlineMs) });
  let mount: Awaited<ReturnType<typeof mountWith>>;
  let unmounted: (() => void) | null = null;
  try {
    mount = await mountWith(positionals[0]!, client, {
      binding,
      allowOther: values['allow-other'] ?? false,
      deadlineMs,
      debug: values.debug ?? false,
      onError: (op, path, e) => console.error(`govfs: mount: ${op} ${path}: ${(e as Error).message}`),
      onUnmounted: (error) => {
        console.error(`govfs: the mount was unmounted from outside${error ? ` (${error})` : ''}`);
        unmounted?.();
      },
    });
  } catch (e) {
    await client.close();
    throw e;
  }
  const stopped = untilSignal(async () => {
    try {
      await mount.stop();
    } finally {
      await client.close();
    }
  }, `the mount at ${mount.mountpoint}`);
  const gone = new Promise<void>((r) => (unmounted = r));
  console.log(`govfs mounted at ${mount.mountpoint} (cluster at ${client.server}, ${binding} binding); Ctrl-C or SIGTERM unmounts`);
  await Promise.race([stopped, gone]);
  // The binding's FUSE thread and the client's timers must not keep the process alive.
  process.exit(process.exitCode ?? 0);
}
