// From govfs errors to the errno a FUSE reply carries (negative, as the kernel wants it).
//
// FsError codes are POSIX names (src/fs/errors.ts), so most map one to one through the
// platform's own table (os.constants.errno). The codes that are govfs's own, or that say the
// cluster could not be reached, become EIO or ENOTCONN: a program reading through the mount
// must get an error it knows, never a hang.

import { constants } from 'node:os';

const ERRNO: Readonly<Record<string, number>> = constants.errno as Record<string, number>;

/** Codes with no errno of their own (or whose errno would mislead a program). */
const SPECIAL: Readonly<Record<string, string>> = {
  // The subtree's ministry is down, or no node answered within the mount's deadline.
  EUNAVAILABLE: 'EIO',
  ETIMEDOUT: 'EIO',
  // The client cannot reach any server (connect failures, a closed client).
  ECONNREFUSED: 'ENOTCONN',
  EHOSTUNREACH: 'ENOTCONN',
  EHOSTDOWN: 'ENOTCONN',
  ECANCELED: 'ENOTCONN',
  ENOENT_ACTOR: 'ENOTCONN',
  // Client authentication failures on reconnect: nothing the program could retry.
  EAUTH: 'EACCES',
  ETLS: 'ENOTCONN',
  EPROTO: 'EIO',
};

/** The positive errno for a code name ('ENOENT' -> 2); EIO for anything unknown. */
export function errnoOf(code: string): number {
  const name = SPECIAL[code] ?? code;
  return ERRNO[name] ?? ERRNO['EIO']!;
}

/** An operation refused with a POSIX errno, thrown by the mount's operations. */
export class MountErrno extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MountErrno';
  }
}

/** The negative errno a FUSE reply carries for anything thrown (FsError, RuntimeError,
 * MountErrno, or a stray Error: EIO). */
export function fuseErrno(e: unknown): number {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return -errnoOf(typeof code === 'string' ? code : 'EIO');
}
