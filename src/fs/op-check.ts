// Validation of the ops a namespace applies. Ops come from the log, i.e. from the wire: trust
// nothing; a malformed op is EINVAL, answered identically on every replica. Cut out of
// namespace.ts (issue 15, point 3).

import { fsErrors } from './errors.js';
import { SPECIAL_KINDS, type AckOp, type ClientOp, type MutationOp, type Op, type SpecialKind, type StampedMutationOp } from './ns-types.js';
import { isCount } from './inode.js';
import { MAX_ABS_TIME_NS, PERM_BITS, checkCreds, isId } from './access.js';

const MAX_CLIENT_ID = 256;

export function finite(x: unknown, field: string, op: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw fsErrors.invalid(op, undefined, `${field} must be a finite number (ms), got ${String(x)}`);
  return x + 0; // -0 → 0, so a snapshot round-trips exactly
}

function str(x: unknown, field: string, op: string): string {
  if (typeof x !== 'string') throw fsErrors.invalid(op, undefined, `${field} must be a string`);
  return x;
}

function optBool(x: unknown, field: string, op: string): boolean | undefined {
  if (x !== undefined && typeof x !== 'boolean') throw fsErrors.invalid(op, undefined, `${field} must be a boolean`);
  return x;
}

function checkMutation(x: unknown): MutationOp {
  if (typeof x !== 'object' || x === null) throw fsErrors.invalid('apply', undefined, 'malformed op: not an object');
  const o = x as Record<string, unknown>;
  const name = o['op'];
  switch (name) {
    case 'mkdir': {
      const parents = optBool(o['parents'], 'parents', name);
      const op: Extract<MutationOp, { op: 'mkdir' }> = parents === undefined ? { op: name, path: str(o['path'], 'path', name) } : { op: name, path: str(o['path'], 'path', name), parents };
      if (o['mode'] !== undefined) op.mode = modeOf(o['mode'], name);
      return op;
    }
    case 'create': {
      const exclusive = optBool(o['exclusive'], 'exclusive', name);
      const op: Extract<MutationOp, { op: 'create' }> = exclusive === undefined ? { op: name, path: str(o['path'], 'path', name) } : { op: name, path: str(o['path'], 'path', name), exclusive };
      if (o['mode'] !== undefined) op.mode = modeOf(o['mode'], name);
      return op;
    }
    case 'chmod':
      return { op: name, path: str(o['path'], 'path', name), mode: modeOf(o['mode'], name) };
    case 'chown':
      return { op: name, path: str(o['path'], 'path', name), uid: owner(o['uid'], 'uid'), gid: owner(o['gid'], 'gid') };
    case 'utimens':
      return { op: name, path: str(o['path'], 'path', name), atimeNs: time(o['atimeNs'], 'atimeNs'), mtimeNs: time(o['mtimeNs'], 'mtimeNs') };
    case 'symlink':
      return { op: name, path: str(o['path'], 'path', name), target: str(o['target'], 'target', name) };
    case 'link':
      return { op: name, from: str(o['from'], 'from', name), to: str(o['to'], 'to', name) };
    case 'mknod': {
      const kind = o['kind'];
      if (!SPECIAL_KINDS.includes(kind as SpecialKind)) throw fsErrors.invalid(name, undefined, `kind must be one of ${SPECIAL_KINDS.join(', ')}, got ${JSON.stringify(String(kind)).slice(0, 40)}`);
      const op: Extract<MutationOp, { op: 'mknod' }> = { op: name, path: str(o['path'], 'path', name), kind: kind as SpecialKind };
      if (o['mode'] !== undefined) op.mode = modeOf(o['mode'], name);
      if (o['rdev'] !== undefined) {
        if (!isCount(o['rdev'])) throw fsErrors.invalid(name, undefined, `rdev must be a non-negative integer, got ${String(o['rdev'])}`);
        op.rdev = o['rdev'];
      }
      return op;
    }
    case 'rm':
      return { op: name, path: str(o['path'], 'path', name) };
    case 'rmdir': {
      const recursive = optBool(o['recursive'], 'recursive', name);
      return recursive === undefined ? { op: name, path: str(o['path'], 'path', name) } : { op: name, path: str(o['path'], 'path', name), recursive };
    }
    case 'rename':
      return { op: name, from: str(o['from'], 'from', name), to: str(o['to'], 'to', name) };
    case 'setSize': {
      if (typeof o['size'] !== 'number') throw fsErrors.invalid(name, undefined, 'size must be a number');
      const extend = optBool(o['extend'], 'extend', name);
      const token = o['token'];
      if (token !== undefined && (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 0)) throw fsErrors.invalid(name, undefined, 'token must be a non-negative integer');
      const op: Extract<MutationOp, { op: 'setSize' }> = extend === undefined ? { op: name, path: str(o['path'], 'path', name), size: o['size'] } : { op: name, path: str(o['path'], 'path', name), size: o['size'], extend };
      if (typeof token === 'number' && token > 0) op.token = token;
      return op;
    }
    default:
      throw fsErrors.invalid('apply', undefined, `unknown op ${JSON.stringify(String(name)).slice(0, 40)}`);
  }
}

/** A create body checked as checkMutation checks it (same order, same errors), kept as it is;
 * undefined for any other body (checkMutation copies it). */
function checkOwnCreate(x: unknown): MutationOp | undefined {
  if (typeof x !== 'object' || x === null || (x as { op?: unknown }).op !== 'create') return undefined;
  const o = x as Record<string, unknown>;
  optBool(o['exclusive'], 'exclusive', 'create');
  str(o['path'], 'path', 'create');
  if (o['mode'] !== undefined) modeOf(o['mode'], 'create');
  return x as MutationOp;
}

function modeOf(x: unknown, op: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > PERM_BITS) throw fsErrors.invalid(op, undefined, `mode must be an integer in [0, 0o7777], got ${String(x)}`);
  return x;
}

/** chown's uid or gid: an id, or -1 to keep it. */
function owner(x: unknown, field: string): number {
  if (x !== -1 && !isId(x)) throw fsErrors.invalid('chown', undefined, `${field} must be an id in [0, 2^32-1) or -1 (keep), got ${String(x)}`);
  return x as number;
}

/** utimens's times: nanoseconds (bigint), or null for the entry's time. */
function time(x: unknown, field: string): bigint | null {
  if (x === null) return null;
  if (typeof x !== 'bigint' || x > MAX_ABS_TIME_NS || x < -MAX_ABS_TIME_NS) throw fsErrors.invalid('utimens', undefined, `${field} must be nanoseconds (a bigint within ±2^53 s) or null (now)`);
  return x;
}

function clientId(x: unknown, op: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > MAX_CLIENT_ID)
    throw fsErrors.invalid(op, undefined, `clientId must be a non-empty string of at most ${MAX_CLIENT_ID} characters`);
  return x;
}

function seqOf(x: unknown, op: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) throw fsErrors.invalid(op, undefined, `seq must be a positive integer, got ${String(x)}`);
  return x;
}

/** Validate an op from the log; throws FsError EINVAL. Returns a clean copy; or, when `own`
 * (the op is a decoder's fresh object holding only the fields of its type, as a protobuf
 * entry's: ministry-entry.ts), a client change's create checked in place: the same object,
 * its values normalised as the copy's would be (every replica checks every change). */
export function checkOp(x: unknown, own = false): Op {
  if (typeof x !== 'object' || x === null) throw fsErrors.invalid('apply', undefined, 'malformed op: not an object');
  const o = x as Record<string, unknown>;
  switch (o['op']) {
    case 'client': {
      // Fields assigned, not spread (every replica checks every change; a spread costs a copy),
      // checked in the order they always were, so a malformed op fails with the same message.
      const id = clientId(o['clientId'], 'client');
      const seq = seqOf(o['seq'], 'client');
      const acked = o['acked'] === undefined || o['acked'] === 0 ? undefined : seqOf(o['acked'], 'client');
      const now = finite(o['now'], 'now', 'client');
      const body = own ? checkOwnCreate(o['body']) : undefined;
      const op: ClientOp = body === undefined ? { op: 'client', clientId: id, seq, now, body: checkMutation(o['body']) } : (o as unknown as ClientOp);
      if (body !== undefined) {
        op.now = now;
        if (op.acked === 0) delete op.acked;
      } else if (acked !== undefined) op.acked = acked;
      if (o['as'] !== undefined) op.as = checkCreds(o['as'], 'client');
      return op;
    }
    case 'ack': {
      const close = optBool(o['close'], 'close', 'ack');
      const ack: AckOp = { op: 'ack', clientId: clientId(o['clientId'], 'ack'), seq: seqOf(o['seq'], 'ack'), now: finite(o['now'], 'now', 'ack') };
      if (close !== undefined) ack.close = close;
      return ack;
    }
    case 'expireClients': {
      const ttlMs = finite(o['ttlMs'], 'ttlMs', 'expireClients');
      if (ttlMs < 0) throw fsErrors.invalid('expireClients', undefined, 'ttlMs must be >= 0');
      return { op: 'expireClients', now: finite(o['now'], 'now', 'expireClients'), ttlMs };
    }
    default:
      return { ...checkMutation(o), now: finite(o['now'], 'now', String(o['op'])) } as StampedMutationOp;
  }
}
