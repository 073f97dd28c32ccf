// A big ministry's group log for the tests of snapshots on a real runtime
// (snapshot-pool.test.ts, snapshot-restore.test.ts): the entries that make `files` files, a
// thousand to a directory, and a wait on the real clock.

import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import type { ClientOp } from '../../src/fs/requests.js';

const PER_DIR = 1_000;

/** The log entries that create `files` files: a mkdir before every thousand. */
export function ministryEntries(files: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let seq = 0;
  const add = (op: ClientOp): void => {
    seq++;
    out.push(MinistryNamespace.encodeEntry({ clientId: 'c1', seq, acked: seq - 1, op, now: 1 }));
  };
  for (let d = 0; d * PER_DIR < files; d++) {
    add({ op: 'mkdir', path: `/d${d}`, parents: false });
    for (let f = 0; f < PER_DIR && d * PER_DIR + f < files; f++) add({ op: 'create', path: `/d${d}/file-${f}` });
  }
  return out;
}

/** Resolves once `cond` holds, polled every 2 ms; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 120_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
