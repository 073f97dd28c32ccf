// `govfs cluster` on a disk that fills up (hardening issue, point 4): its nodes share one lmdb
// environment, so a full disk stops them all. Each says so in one clear line naming the folder
// (not only lmdb's raw error), the process stays up and answers clients with an error, and
// nothing is acknowledged that was not written.
//
// The data folder is on a small tmpfs (mounting needs root: skipped elsewhere).

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RemoteGovClient } from '../../src/client/connect.js';
import { fill, smallTmpfs } from '../support/tmpfs.js';
import { GovfsProcess, until } from './helpers.js';

const disk = smallTmpfs('govfs-full-cluster-', 16);
const skip = typeof disk === 'string' ? disk : '';

describe.skipIf(skip !== '')(`govfs cluster on a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cluster: GovfsProcess;
  let fs: RemoteGovClient;
  const dir = typeof disk === 'string' ? '' : disk.dir;

  beforeAll(async () => {
    cluster = new GovfsProcess(['cluster', '--nodes', '4', '--threads', '1', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0']);
    const server = (await cluster.waitFor(/clients connect to (127\.0\.0\.1:\d+)/))[1]!;
    await cluster.waitFor(/^ready: president n\d/m, 60_000);
    fs = await connect([server], { deadlineMs: 5_000 });
  });
  afterAll(async () => {
    await fs?.close();
    await cluster?.stop('SIGKILL');
    if (typeof disk !== 'string') disk.unmount();
  });

  it('says "disk full" naming the folder, stays up, and answers clients with an error', async () => {
    await fs.mkdir('/before');
    fill(dir, 256 * 1024);
    // Write until the cluster refuses: every create it acknowledged must have been written.
    const acked: string[] = [];
    const failure = await until(async () => {
      try {
        const name = `/f${acked.length}-${'x'.repeat(200)}`;
        await fs.create(name);
        acked.push(name);
        return null;
      } catch (e) {
        return e as Error & { code?: string };
      }
    }, 'a create refused on the full disk', 60_000, 0);
    expect(failure.code).toMatch(/^(EUNAVAILABLE|EIO|ETIMEDOUT|EAGAIN)$/);
    await until(async () => /govfs: node n\d: disk full: cannot write to /.test(cluster.stderr), 'a "disk full" line on stderr', 30_000);
    expect(cluster.running).toBe(true);
    // (lmdb itself still prints its raw error with console.error; nothing is unhandled.)
    expect(cluster.stderr).not.toMatch(/Unhandled|uncaught/i);
  });
});
