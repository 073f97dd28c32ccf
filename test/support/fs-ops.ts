import type { FsOpCase } from '../../src/fs/requests.js';

// Tests that hand-make FsRequests write operations flat, as the ministries see them
// (`{ op: 'create', path }`, `{ op: 'lease-open', path, mode, ..., end: null }`); `wireOp` turns
// one into FsRequest's `oneof op` fields (`{ op: 'create', create: { path } }`) to spread into a
// request. `end: null` (to the end of the file) becomes Infinity, as the .proto has it.

const CASES: Record<string, FsOpCase> = {
  mkdir: 'mkdir',
  create: 'create',
  rm: 'rm',
  rmdir: 'rmdir',
  rename: 'rename',
  ls: 'ls',
  stat: 'stat',
  'lease-open': 'leaseOpen',
  'lease-renew': 'leaseRenew',
  'lease-release': 'leaseRelease',
  chmod: 'chmod',
  chown: 'chown',
  utimens: 'utimens',
  symlink: 'symlink',
  readlink: 'readlink',
  link: 'link',
};

export function wireOp(flat: Record<string, unknown>): Record<string, unknown> {
  const { op, ...fields } = flat;
  const c = CASES[String(op)];
  if (c === undefined) throw new Error(`wireOp: ${String(op)} is not an operation of FsRequest`);
  if (c === 'leaseOpen' && fields['end'] === null) fields['end'] = Infinity;
  return { op: c, [c]: fields };
}
