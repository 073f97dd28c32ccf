// The one place a member reads a client's FsRequest operation: which case of `oneof op` is set,
// and whether its fields have the types the .proto gives them. Whatever a client sends (no
// operation, two, fields retyped in a message that never crossed the wire), the answer is an
// operation the ministry and the lease service can trust the shape of, or an FsError EINVAL that
// says what was wrong. Values (paths, names, ranges) are checked later, by their owners.

import { FsError } from '../fs/errors.js';
import { MAX_PATH_BYTES } from '../fs/path.js';
import { FS_OP_CASES, type ClientOp, type DataOp, type FsOpCase, type LeaseOp } from '../fs/requests.js';
import { ROOT, checkCreds, type Creds } from '../fs/access.js';

/** 'mode' is a lease's "read" | "write"; 'optional' a proto3 optional number (absent: left out);
 * 'flag' a boolean left out when false. */
type FieldType = 'string' | 'number' | 'boolean' | 'mode' | 'optional' | 'flag' | 'bytes' | 'strings';

/** Each case's fields and their types (as govfs.proto declares them), and its flat name. */
const SHAPES: Record<FsOpCase, { op: ClientOp['op'] | LeaseOp['op'] | DataOp['op']; fields: Record<string, FieldType> }> = {
  mkdir: { op: 'mkdir', fields: { path: 'string', parents: 'boolean', mode: 'optional' } },
  create: { op: 'create', fields: { path: 'string', mode: 'optional', noStat: 'flag' } },
  rm: { op: 'rm', fields: { path: 'string' } },
  rmdir: { op: 'rmdir', fields: { path: 'string', recursive: 'boolean' } },
  rename: { op: 'rename', fields: { from: 'string', to: 'string' } },
  ls: { op: 'ls', fields: { path: 'string' } },
  stat: { op: 'stat', fields: { path: 'string' } },
  leaseOpen: { op: 'lease-open', fields: { path: 'string', mode: 'mode', start: 'number', end: 'number', wait: 'boolean', deadlineMs: 'number', reqId: 'string' } },
  leaseRenew: { op: 'lease-renew', fields: { id: 'string', mode: 'mode' } },
  leaseRelease: { op: 'lease-release', fields: { id: 'string', mode: 'mode' } },
  chmod: { op: 'chmod', fields: { path: 'string', mode: 'number' } },
  chown: { op: 'chown', fields: { path: 'string', uid: 'number', gid: 'number' } },
  utimens: {
    op: 'utimens',
    fields: { path: 'string', atimeNow: 'boolean', atimeSec: 'number', atimeNsec: 'number', mtimeNow: 'boolean', mtimeSec: 'number', mtimeNsec: 'number' },
  },
  symlink: { op: 'symlink', fields: { target: 'string', path: 'string' } },
  readlink: { op: 'readlink', fields: { path: 'string' } },
  link: { op: 'link', fields: { from: 'string', to: 'string' } },
  mknod: { op: 'mknod', fields: { path: 'string', mode: 'number', rdev: 'number' } },
  dataWrite: { op: 'data-write', fields: { chunkId: 'string', version: 'number', token: 'number', offset: 'number', data: 'bytes' } },
  dataRead: { op: 'data-read', fields: { chunkId: 'string', version: 'number', offset: 'number', length: 'number' } },
  layoutGet: { op: 'layout-get', fields: { path: 'string' } },
  layoutPlace: { op: 'layout-place', fields: { path: 'string', offset: 'number', length: 'number' } },
  layoutReplace: { op: 'layout-replace', fields: { path: 'string', index: 'number', chunkId: 'string', version: 'number', failed: 'string', newChunkId: 'string', replicas: 'strings', token: 'number' } },
  fileResize: { op: 'file-resize', fields: { path: 'string', size: 'number', extend: 'boolean', token: 'number' } },
};

/** A field left out reads as its proto3 default, as it does off the wire. */
const DEFAULTS: Record<FieldType, unknown> = { string: '', number: 0, boolean: false, mode: '', optional: undefined, flag: false, bytes: new Uint8Array(0), strings: [] };

const PATH_FIELDS = new Set(['path', 'from', 'to', 'target']);

const WANT = `want exactly one of ${FS_OP_CASES.join(', ')}`;
const CASES: ReadonlySet<string> = new Set(FS_OP_CASES);

/** The request's operation, flattened (`{ op: 'create', path }`, `{ op: 'lease-open', ... }`),
 * or an FsError EINVAL naming what is wrong with it. */
export function requestOp(req: object): ClientOp | LeaseOp | DataOp | FsError {
  const r = req as Record<string, unknown>;
  // A request's own fields are the ones set (a decoded message keeps the unset ones' defaults on
  // its prototype): a dozen keys looked up in a set, not every case looked up in the message
  // (2.4 us a request, on every request a ministry serves).
  let found: FsOpCase | undefined;
  for (const k of Object.keys(r)) {
    if (!CASES.has(k) || r[k] === undefined || r[k] === null) continue;
    if (found !== undefined) {
      const [a, b] = FS_OP_CASES.indexOf(found) < FS_OP_CASES.indexOf(k as FsOpCase) ? [found, k] : [k, found];
      return new FsError('EINVAL', `malformed request: it holds two operations (${a} and ${b}); ${WANT}`, pathOf(r));
    }
    found = k as FsOpCase;
  }
  if (found === undefined) return new FsError('EINVAL', `malformed request: no operation; ${WANT}`, pathOf(r));
  const body = r[found];
  const shape = SHAPES[found];
  if (typeof body !== 'object' || body === null) return new FsError('EINVAL', `malformed request: ${found} is not a message`, pathOf(r));
  const b = body as Record<string, unknown>;
  const out: Record<string, unknown> = { op: shape.op };
  for (const field in shape.fields) {
    const type = shape.fields[field]!;
    const v = b[field] ?? DEFAULTS[type];
    if ((type === 'optional' && v === undefined) || (type === 'flag' && v === false)) continue;
    const fits =
      type === 'mode' ? v === 'read' || v === 'write' : type === 'bytes' ? v instanceof Uint8Array : type === 'strings' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === (type === 'optional' ? 'number' : type === 'flag' ? 'boolean' : type);
    if (!fits) {
      const want = type === 'mode' ? '"read" or "write"' : type === 'bytes' ? 'bytes' : type === 'strings' ? 'a list of strings' : type === 'flag' ? 'a boolean' : `a ${type}`;
      return new FsError('EINVAL', `malformed request: ${found}.${field} is ${describe(v)}, want ${want}`, pathOf(r));
    }
    // A path longer than any path can be is refused here, before it could reach a log entry
    // (UTF-16 units never outnumber UTF-8 bytes; the exact byte count is the namespace's check).
    if (type === 'string' && PATH_FIELDS.has(field) && (v as string).length > MAX_PATH_BYTES) {
      return new FsError('ENAMETOOLONG', `${found}.${field} is ${(v as string).length} characters long, over the limit of ${MAX_PATH_BYTES} bytes for a path`, (v as string).slice(0, 80));
    }
    out[field] = v;
  }
  return out as ClientOp | LeaseOp | DataOp;
}

/** Whether a validated operation is a chunk store's (a node's, not its ministry's). */
export function isDataOp(op: ClientOp | LeaseOp | DataOp): op is DataOp {
  return op.op === 'data-write' || op.op === 'data-read';
}

/** Who a request says it comes from (root when it says nothing), or EINVAL for malformed
 * credentials. */
export function requestCreds(req: object): Creds | FsError {
  const creds = (req as { creds?: unknown }).creds;
  if (creds === undefined || creds === null) return ROOT;
  try {
    return checkCreds(creds, 'request');
  } catch (e) {
    if (e instanceof FsError) return e;
    throw e;
  }
}

/** Whether a validated operation is a lease's (for the lease service) rather than the namespace's. */
export function isLeaseOp(op: ClientOp | LeaseOp | DataOp): op is LeaseOp {
  return op.op === 'lease-open' || op.op === 'lease-renew' || op.op === 'lease-release';
}

function pathOf(r: Record<string, unknown>): string | undefined {
  return typeof r['path'] === 'string' ? r['path'] : undefined;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `the string "${v.slice(0, 40)}..."` : `the string ${JSON.stringify(v)}`;
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}
