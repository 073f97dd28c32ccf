// `govfs mount MOUNTPOINT`: the file system through FUSE (src/mount/), until Ctrl-C or SIGTERM
// unmounts it. Loaded only by this command (it loads the native FUSE binding).

import { CLIENT_OPTIONS, openClient } from './client-commands.js';
import { UsageError, intOption, parse, untilSignal } from './usage.js';

/** One operation's deadline through the mount (ms), unless --timeout says otherwise: a mount
 * whose cluster went away answers EIO after this long instead of hanging the program. */
export const MOUNT_DEADLINE_MS = 10_000;

export async function mountCommand(argv: string[], help: string): Promise<void> {
  const { values, positionals } = parse(argv, { ...CLIENT_OPTIONS, 'allow-other': { type: 'boolean' }, debug: { type: 'boolean' } });
  if (values.help) return void console.log(help);
  if (positionals.length !== 1) throw new UsageError('mount needs one MOUNTPOINT, an existing directory (govfs mount --help)');
  const deadlineMs = intOption(values.timeout, 'timeout') ?? MOUNT_DEADLINE_MS;
  // Loaded before connecting, so a missing binding or libfuse is said at once.
  const { FuseMount, checkMountpoint, loadFuse } = await import('../mount/fuse-mount.js');
  checkMountpoint(positionals[0]!);
  loadFuse();
  const client = await openClient({ ...values, timeout: String(deadlineMs) });
  let mount: Awaited<ReturnType<typeof FuseMount.start>>;
  try {
    mount = await FuseMount.start(positionals[0]!, client, {
      allowOther: values['allow-other'] ?? false,
      deadlineMs,
      debug: values.debug ?? false,
      onError: (op, path, e) => console.error(`govfs: mount: ${op} ${path}: ${(e as Error).message}`),
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
  console.log(`govfs mounted at ${mount.mountpoint} (cluster at ${client.server}); Ctrl-C or SIGTERM unmounts`);
  await stopped;
  // The binding's FUSE thread and the client's timers must not keep the process alive.
  process.exit(process.exitCode ?? 0);
}
