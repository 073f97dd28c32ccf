// Secrets kept in files (the cluster secret, the client token): read once, before any
// connection, so a missing, unreadable or too short file is reported as itself, naming the
// file, never as a cluster that cannot be reached.

import { readFileSync } from 'node:fs';
import { RuntimeError } from '../runtime/errors.js';

/** The bytes of a key file, without a trailing newline; at least `minBytes` of them. Throws a
 * RuntimeError with the file system's code (ENOENT, EACCES, EISDIR, ...) or EINVAL. */
export function readKeyFile(file: string, what: string, minBytes = 16): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new RuntimeError(err.code ?? 'EIO', `cannot read the ${what} file ${file}: ${why}`, { cause: e });
  }
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--;
  const hint = `e.g. head -c 32 /dev/urandom | base64 > ${file}`;
  if (end === 0) throw new RuntimeError('EINVAL', `the ${what} file ${file} is empty; it needs at least ${minBytes} bytes (${hint})`);
  if (end < minBytes) throw new RuntimeError('EINVAL', `the ${what} in ${file} is ${end} bytes; it needs at least ${minBytes} (${hint})`);
  return Uint8Array.from(raw.subarray(0, end));
}
