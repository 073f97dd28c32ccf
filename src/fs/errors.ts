// File-system errors (DESIGN.md, "Errors, input, logs"): every client-visible failure is an
// FsError with a POSIX-like code and a message that names the path and says what to do.
//
// Errors cross the wire and live inside replicated state (a client's saved result), so they
// have a plain serialisable form, FsErrorData = { code, message, path? }; `toJSON()` gives it
// and `FsError.from(obj)` rebuilds an FsError from it (or from anything malformed, as EINVAL).

export const FS_ERROR_CODES = [
  'ENOENT', // no such file or directory
  'EEXIST', // the path already exists
  'ENOTDIR', // a directory was needed, a file was found
  'EISDIR', // a file was needed, a directory was found
  'ENOTEMPTY', // directory not empty
  'EINVAL', // bad argument: malformed path, range, op, ...
  'ENAMETOOLONG', // a name over 255 bytes or a path over 4096 bytes (UTF-8)
  'EXDEV', // the operation crosses ministries (subtrees): not handled by this one
  'EBUSY', // the target is in use (a ministry root, a lease that others wait for)
  'ETIMEDOUT', // no answer in time
  'EUNAVAILABLE', // the subtree's ministry is down or unreachable right now
  'EPERM', // not allowed (not the owner, not root; the sticky bit)
  'EACCES', // permission denied by a mode (search, read or write permission)
  'ESTALE', // a request, lease or handle that is no longer current
  'EAGAIN', // try again (e.g. after a redirect or when a lease frees)
  'ECANCELED', // cancelled before it completed
  'EIO', // the node's storage failed (disk full, damaged file): it serves nothing until restarted
  'EBADF', // a handle used for what it was not opened for (a write under a read lease)
  'ENXIO', // opened a FIFO, socket or device node: govfs stores these, the local kernel serves them
] as const;

export type FsErrorCode = (typeof FS_ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(FS_ERROR_CODES);

export function isFsErrorCode(x: unknown): x is FsErrorCode {
  return typeof x === 'string' && CODE_SET.has(x);
}

/** The serialisable form of an FsError: plain JSON, safe in replicated state and on the wire. */
export interface FsErrorData {
  code: FsErrorCode;
  message: string;
  path?: string;
  /** EAGAIN of the path, not of the node (a subtree moving to another ministry): retry the
   * same node after this many ms. */
  retryAfterMs?: number;
}

export class FsError extends Error {
  readonly code: FsErrorCode;
  readonly path: string | undefined;

  constructor(code: FsErrorCode, message: string, path?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FsError';
    this.code = code;
    this.path = path;
  }

  /** The plain form ({ code, message, path? }); `path` is left out when there is none. */
  toJSON(): FsErrorData {
    return this.path === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, path: this.path };
  }

  /**
   * Rebuild an FsError from its plain form (from the wire, a saved result, another FsError).
   * Never throws: anything malformed becomes an EINVAL error describing what arrived.
   */
  static from(obj: unknown): FsError {
    if (obj instanceof FsError) return obj;
    if (typeof obj === 'object' && obj !== null) {
      const o = obj as Record<string, unknown>;
      const path = typeof o['path'] === 'string' ? o['path'] : undefined;
      if (isFsErrorCode(o['code']) && typeof o['message'] === 'string') return new FsError(o['code'], o['message'], path);
    }
    return new FsError('EINVAL', `malformed error received (${describe(obj)}); expected { code, message, path? }`);
  }
}

export function isFsError(x: unknown): x is FsError {
  return x instanceof FsError;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  const keys = Object.keys(x).slice(0, 5);
  return keys.length === 0 ? 'empty object' : `object with keys ${keys.join(', ')}`;
}

// Constructors for the common cases, so messages read the same everywhere:
// "<op> <path>: <what went wrong> (<what to do>)".

export const fsErrors = {
  notFound: (op: string, path: string, missing = path, hint?: string) =>
    new FsError(
      'ENOENT',
      `${op} ${path}: no such file or directory` +
        (missing === path ? (hint === undefined ? '' : ` (${hint})`) : ` (${missing} does not exist${hint === undefined ? '' : `; ${hint}`})`),
      path,
    ),
  exists: (op: string, path: string, hint = 'choose another name or remove it first') =>
    new FsError('EEXIST', `${op} ${path}: already exists (${hint})`, path),
  notDir: (op: string, path: string, file = path) =>
    new FsError(
      'ENOTDIR',
      file === path ? `${op} ${path}: not a directory` : `${op} ${path}: ${file} is a file, not a directory`,
      path,
    ),
  isDir: (op: string, path: string, hint: string) => new FsError('EISDIR', `${op} ${path}: is a directory (${hint})`, path),
  notEmpty: (op: string, path: string, hint = 'use recursive: true') =>
    new FsError('ENOTEMPTY', `${op} ${path}: directory not empty (${hint})`, path),
  invalid: (op: string, path: string | undefined, what: string) =>
    new FsError('EINVAL', path === undefined ? `${op}: ${what}` : `${op} ${path}: ${what}`, path),
  crossDevice: (op: string, path: string, root: string) =>
    new FsError(
      'EXDEV',
      `${op} ${path}: not in this ministry (its subtree is ${root}); send the request to the ministry that owns ${path}`,
      path,
    ),
  busy: (op: string, path: string, why: string) => new FsError('EBUSY', `${op} ${path}: ${why}`, path),
  stale: (op: string, path: string | undefined, why: string) =>
    new FsError('ESTALE', path === undefined ? `${op}: ${why}` : `${op} ${path}: ${why}`, path),
};
