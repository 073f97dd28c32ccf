// What the command line does with the paths users type. It never quietly rewrites a path the
// library would refuse: `mkdir rel` does not make /rel, `/nonexist/../z` is not /z. Refusals
// are the library's EINVAL, with what was probably meant.
//
//  - one-shot commands (govfs mkdir ...) take absolute paths only;
//  - the shell joins a relative path to its current directory, and resolves "." and ".." at
//    the start of a relative path against it (`cd ..`, `ls ../b`): the current directory
//    exists (cd checked it), so its parent is what ".." means. A "." or ".." after a name is
//    refused everywhere, as the library does, since the name before it may not exist;
//  - one trailing "/" is accepted and means the path must be a directory (as in POSIX:
//    `touch /p/file/` is refused, `mkdir /a/` makes /a, `ls /x/` lists /x).

import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { FsError } from '../fs/errors.js';
import { checkPath, parentOf } from '../fs/path.js';
import { escapeText } from '../fs/names.js';

export interface CliPath {
  path: string;
  /** It was typed with a trailing "/": it must be a directory. */
  dirOnly: boolean;
}

function shown(p: string): string {
  return JSON.stringify(escapeText(p.length > 80 ? `${p.slice(0, 77)}...` : p));
}

/** The path `arg` names, for a one-shot command (no `cwd`) or in the shell (`cwd`). */
export function cliPath(arg: string, cwd?: string): CliPath {
  let p = arg;
  let dirOnly = false;
  if (p.length > 1 && p.endsWith('/')) {
    p = p.slice(0, -1);
    dirOnly = true;
  }
  if (!p.startsWith('/')) {
    if (cwd === undefined) {
      throw new FsError('EINVAL', `invalid path ${shown(arg)}: not absolute (govfs paths start with /; did you mean ${shown(`/${arg}`)}?)`, arg);
    }
    let base = cwd;
    const segs = p.split('/');
    let i = 0;
    for (; i < segs.length && (segs[i] === '.' || segs[i] === '..'); i++) if (segs[i] === '..') base = parentOf(base) ?? '/';
    const rest = segs.slice(i).join('/');
    p = rest === '' ? base : base === '/' ? `/${rest}` : `${base}/${rest}`;
  }
  try {
    checkPath(p);
  } catch (e) {
    const segs = p.split('/').slice(1);
    if (e instanceof FsError && e.code === 'EINVAL' && segs.some((s) => s === '.' || s === '..' || s === '')) {
      const meant = posix.normalize(p).replace(/(.)\/$/, '$1');
      throw new FsError('EINVAL', `${e.message}; govfs does not resolve "." or ".." after a name, nor "//" (the names before them need not exist): if you meant ${shown(meant)}, write that`, e.path);
    }
    throw e;
  }
  return { path: p, dirOnly };
}

/** The error for a path typed with a trailing "/" that is not a directory. */
export function notADirectory(op: string, path: string): FsError {
  return new FsError('ENOTDIR', `${op} ${path}/: not a directory (a trailing "/" names a directory)`, path);
}

/**
 * Arguments that were not valid UTF-8 on the command line. Node decodes argv leniently (each
 * invalid byte becomes U+FFFD), which would store a name other than the one typed; so an
 * argument holding U+FFFD is checked against the raw bytes in /proc/self/cmdline, and where
 * those cannot be read (not Linux) it is refused too: a name with U+FFFD is then not sendable
 * from the command line, only through the library.
 */
export function invalidUtf8Args(args: readonly string[], cmdline = '/proc/self/cmdline'): number[] {
  const suspects = args.map((a, i) => (a.includes('\ufffd') ? i : -1)).filter((i) => i >= 0);
  if (suspects.length === 0) return [];
  let raw: Buffer[] | null = null;
  try {
    const parts: Buffer[] = [];
    const buf = readFileSync(cmdline);
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === 0) {
        parts.push(buf.subarray(start, i));
        start = i + 1;
      }
    }
    if (start < buf.length) parts.push(buf.subarray(start));
    // The arguments are the last entries (before them: node, its options, the script).
    if (parts.length >= args.length) raw = parts.slice(parts.length - args.length);
  } catch {
    // not Linux: refuse every suspect
  }
  const strict = new TextDecoder('utf-8', { fatal: true });
  return suspects.filter((i) => {
    const bytes = raw?.[i];
    if (!bytes) return true;
    try {
      return strict.decode(bytes) !== args[i];
    } catch {
      return true;
    }
  });
}
