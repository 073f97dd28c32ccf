// Absolute paths: validation and a canonical form.
//
// A govfs path has exactly one spelling, so it can key the subtree map, the lease table and
// the namespace without normalising twice:
//   - it starts with '/'; the root is '/';
//   - segments are separated by exactly one '/'; no empty segments ('//'), and NO trailing
//     '/' except for the root itself: '/a/' is rejected with EINVAL, not normalised
//     (`tidyPath` is offered to front ends that want to be lenient with what users type);
//   - no '.' or '..' segments, no unpaired UTF-16 surrogate (not encodable as UTF-8);
//   - no control characters in a name: C0 (U+0000-U+001F, NUL, newline, ESC, BEL, ...), DEL
//     (U+007F) and C1 (U+0080-U+009F) are refused with EINVAL. They would let one client put
//     terminal escapes or fake line breaks into another's `ls`. Other characters, bidi
//     controls such as U+202E included, are stored as given; front ends escape what is not
//     printable when they show a name (src/fs/names.ts);
//   - a segment is at most 255 bytes, the whole path at most 8192 bytes in UTF-8 and 1024 levels
//     (ENAMETOOLONG, as POSIX says of names and paths too long).
//
// Messages show at most 80 characters of a path, with control and bidi characters escaped,
// so a refusal of a 5,000-byte name does not echo it whole.
//
// `parsePath` is the validating entry point. The other helpers take canonical paths (already
// validated) and do not re-validate, except `joinPath`, which validates the name it appends.

import { FsError, type FsErrorCode } from './errors.js';

export const MAX_NAME_BYTES = 255;
/** A whole path from govfs's root. POSIX's PATH_MAX (4,096) counts from the caller's working
 * directory, and a mount's paths are govfs's from its root: twice that leaves room for where a
 * program works (pjdfstest makes 4,095-byte paths below its working directory). */
export const MAX_PATH_BYTES = 8192;
/** Directory levels below the root. The namespace's walks (snapshots, exports) recurse once per
 * level; deeper trees overflowed the stack at ~1,700 levels (1-byte names in 4 KiB). A rename
 * that would put anything deeper is refused too (Namespace.rename, exportTree). */
export const MAX_DEPTH = 1024;
export const ROOT = '/';

/** UTF-8 length of `s`, or -1 if `s` has an unpaired surrogate (not valid Unicode). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}

/** At most 80 characters of `p`, JSON-quoted, with DEL, C1 and bidi controls escaped too. */
function quote(p: string): string {
  const shown = p.length > 80 ? `${p.slice(0, 77)}...` : p;
  return JSON.stringify(shown).replace(/[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A C0 control, DEL or a C1 control: refused in names. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

interface Problem {
  code: FsErrorCode;
  why: string;
}

function bad(p: unknown, what: string, code: FsErrorCode = 'EINVAL'): FsError {
  const path = typeof p === 'string' ? p : undefined;
  const shown = path === undefined ? `(a ${p === null ? 'null' : typeof p}, not a string)` : quote(path);
  // The error carries a long path only shortened: it travels back to the client and into logs.
  return new FsError(code, `invalid path ${shown}: ${what}`, path !== undefined && path.length > 256 ? `${path.slice(0, 253)}...` : path);
}

/** The rules every name obeys, also in data stored before control characters were refused. */
function structuralProblem(name: string): Problem | undefined {
  if (name.length === 0) return { code: 'EINVAL', why: 'empty name' };
  if (name === '.' || name === '..') return { code: 'EINVAL', why: `"${name}" is not allowed (paths are absolute and canonical)` };
  if (name.includes('\0')) return { code: 'EINVAL', why: 'contains a NUL character' };
  if (name.includes('/')) return { code: 'EINVAL', why: 'a name cannot contain "/"' };
  const bytes = utf8Length(name);
  if (bytes < 0) return { code: 'EINVAL', why: 'contains an unpaired surrogate (not valid Unicode)' };
  if (bytes > MAX_NAME_BYTES) return { code: 'ENAMETOOLONG', why: `a name is ${bytes} bytes, over the limit of ${MAX_NAME_BYTES} bytes` };
  return undefined;
}

function problemOf(name: string): Problem | undefined {
  const structural = structuralProblem(name);
  if (structural) return structural;
  const c = CONTROL.exec(name);
  if (c) {
    const hex = c[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return { code: 'EINVAL', why: `contains the control character U+${hex} (names may not contain control characters U+0000-U+001F, U+007F-U+009F: they would act on the terminal of whoever lists them)` };
  }
  return undefined;
}

/** Why `name` is not a valid single path segment, or undefined if it is. */
export function nameProblem(name: string): string | undefined {
  return problemOf(name)?.why;
}

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && problemOf(name) === undefined;
}

/**
 * A name as stored data may hold it: the structural rules only. Names with control characters
 * written before they were refused still load from snapshots (and are listed, escaped), though
 * no request can name them; `rmdir -r` of their directory removes them.
 */
export function isStoredName(name: unknown): name is string {
  return typeof name === 'string' && structuralProblem(name) === undefined;
}

/** One or more '/'-led names of 1-255 plain ASCII characters, none of them '.' or '..'. */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[\w.-]{1,255})+$/;

/**
 * Validate an absolute path and split it into its segments ('/' → []). Throws FsError EINVAL
 * (with the path and the reason) for anything that is not a canonical absolute path, or
 * ENAMETOOLONG for a name or path over its limit.
 */
export function parsePath(p: unknown): string[] {
  // Most paths are plain ASCII names (letters, digits, '_', '.', '-'), none of them '.' or '..':
  // one regular expression says so, with no per-name checks (paths are parsed several times per
  // request, on the client, the node and every replica).
  if (typeof p === 'string' && p.length <= MAX_PATH_BYTES && PLAIN_PATH.test(p)) return notTooDeep(p, p.slice(1).split('/'));
  if (typeof p !== 'string') throw bad(p, 'a path must be a string');
  if (p.length === 0) throw bad(p, 'empty path (paths are absolute, e.g. /a/b)');
  if (p[0] !== '/') throw bad(p, 'not absolute (paths start with /)');
  if (p === '/') return [];
  if (p.endsWith('/')) throw bad(p, `trailing "/" (write ${quote(p.replace(/\/+$/, '') || '/')})`);
  const segs = p.slice(1).split('/');
  for (const s of segs) {
    if (s.length === 0) throw bad(p, 'empty segment ("//")');
    const problem = problemOf(s);
    if (problem !== undefined) throw bad(p, problem.why, problem.code);
  }
  // After the names, so that one long name is reported as that.
  const total = utf8Length(p);
  if (total > MAX_PATH_BYTES) throw bad(p, `path is ${total} bytes, over the limit of ${MAX_PATH_BYTES} bytes`, 'ENAMETOOLONG');
  return notTooDeep(p, segs);
}

function notTooDeep(p: string, segs: string[]): string[] {
  if (segs.length > MAX_DEPTH) throw bad(p, `path is ${segs.length} levels deep, over the limit of ${MAX_DEPTH}`, 'ENAMETOOLONG');
  return segs;
}

/** `p` itself if it is a canonical absolute path; throws EINVAL otherwise. */
export function checkPath(p: unknown): string {
  // The common case as parsePath's, without the array of segments it builds (a client checks
  // the path of every request it sends).
  if (typeof p === 'string' && p.length <= MAX_PATH_BYTES && PLAIN_PATH.test(p) && depthOf(p) <= MAX_DEPTH) return p;
  parsePath(p);
  return p as string;
}

export function isValidPath(p: unknown): p is string {
  // The common case as parsePath's, without the array of segments it builds (a member checks
  // every request's path for its load counters).
  if (typeof p === 'string' && p.length <= MAX_PATH_BYTES && PLAIN_PATH.test(p) && depthOf(p) <= MAX_DEPTH) return true;
  try {
    parsePath(p);
    return true;
  } catch {
    return false;
  }
}

/** Segments back to a path ([] → '/'). Segments are not re-validated. */
export function formatPath(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/**
 * Lenient clean-up for front ends (the CLI): collapses repeated '/' and drops a trailing '/'.
 * It does not resolve '.' or '..' and does not validate; pass the result to parsePath.
 */
export function tidyPath(p: string): string {
  const t = p.replace(/\/{2,}/g, '/');
  return t.length > 1 && t.endsWith('/') ? t.slice(0, -1) : t;
}

/** `dir` + '/' + `name`; validates `name` as one segment and the result's length. */
export function joinPath(dir: string, name: string): string {
  const problem = problemOf(name);
  if (problem !== undefined) throw bad(name, `cannot join to ${quote(dir)}: ${problem.why}`, problem.code);
  const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
  const total = utf8Length(p);
  if (total > MAX_PATH_BYTES) throw bad(p, `path is ${total} bytes, over the limit of ${MAX_PATH_BYTES} bytes`, 'ENAMETOOLONG');
  if (depthOf(p) > MAX_DEPTH) throw bad(p, `path is ${depthOf(p)} levels deep, over the limit of ${MAX_DEPTH}`, 'ENAMETOOLONG');
  return p;
}

/** The parent directory ('/a/b' → '/a', '/a' → '/'); null for the root, which has none. */
export function parentOf(p: string): string | null {
  if (p === '/') return null;
  const i = p.lastIndexOf('/');
  return i === 0 ? '/' : p.slice(0, i);
}

/** The last segment ('/a/b' → 'b'); '' for the root. */
export function baseName(p: string): string {
  return p === '/' ? '' : p.slice(p.lastIndexOf('/') + 1);
}

/** `a` is a strict ancestor of `b`, segment-wise: '/a' of '/a/b' but not of '/ab' or '/a'. */
export function isAncestor(a: string, b: string): boolean {
  if (a === '/') return b !== '/';
  return b.length > a.length && b.startsWith(a) && b.charCodeAt(a.length) === 0x2f;
}

/** `p` is `root` or lies below it, segment-wise. */
export function isWithin(p: string, root: string): boolean {
  return p === root || isAncestor(root, p);
}

/** Depth in segments: '/' → 0, '/a/b' → 2. */
export function depthOf(p: string): number {
  if (p === '/') return 0;
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 0x2f) n++;
  return n;
}
