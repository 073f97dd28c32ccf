// The client side of the POSIX attributes (issue 18): credentials, the checks a call makes
// before it sends anything, and the stat a client sees (times as bigint nanoseconds). Used by
// GovClient (gov-client.ts).

import { FsError } from '../fs/errors.js';
import { checkCreds, nsToPair, type Creds } from '../fs/access.js';
import type { CredsMessage, StatResult, UtimensOp } from '../fs/requests.js';
import type { Stat as NsStat } from '../fs/ns-types.js';

export type { Creds };

/** The optional last argument of every operation: act as this caller instead of the client's
 * own credentials (GovClientOptions.credentials), e.g. the FUSE caller of a mount. */
export interface AsOptions {
  as?: Creds;
}

/** What `stat` tells of a file, directory, symlink, FIFO, socket or device node: the namespace's stat (times in ms and
 * as bigint nanoseconds) less the birth time, which the wire does not carry. */
export type Stat = Omit<NsStat, 'btime'>;

const ns = (sec: number, nsec: number): bigint => BigInt(sec) * 1_000_000_000n + BigInt(nsec);

/** A StatResult off the wire as a client Stat (a plain object). */
export function clientStat(s: StatResult): Stat {
  return {
    kind: s.kind,
    size: s.size,
    ctime: s.ctime,
    mtime: s.mtime,
    version: s.version,
    ino: s.ino ?? 0,
    mode: s.mode ?? 0,
    uid: s.uid ?? 0,
    gid: s.gid ?? 0,
    nlink: s.nlink ?? 0,
    rdev: s.rdev ?? 0,
    atimeNs: ns(s.atimeSec ?? 0, s.atimeNsec ?? 0),
    mtimeNs: ns(s.mtimeSec ?? 0, s.mtimeNsec ?? 0),
    ctimeNs: ns(s.ctimeSec ?? 0, s.ctimeNsec ?? 0),
  };
}

/** Credentials as they travel (checked first: EINVAL naming what is wrong). */
export function credsMessage(c: Creds): CredsMessage {
  const x = checkCreds(c, 'credentials');
  return { uid: x.uid, gid: x.gid, groups: [...x.groups] };
}

export function checkMode(mode: unknown, op: string, path: string): number {
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new FsError('EINVAL', `${op} ${path}: mode must be an integer in [0, 0o7777], got ${String(mode)}`, path);
  return mode;
}

export function checkOwner(id: unknown, what: string, path: string): number {
  if (id === -1 || (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < 0xffffffff)) return id as number;
  throw new FsError('EINVAL', `chown ${path}: ${what} must be an id in [0, 2^32-1) or -1 (keep), got ${String(id)}`, path);
}

/** utimens's message: each time in nanoseconds, or null for the minister's now. */
export function utimensOp(path: string, atimeNs: bigint | null, mtimeNs: bigint | null): UtimensOp {
  const pair = (t: bigint | null, what: string) => {
    if (t === null) return { now: true, sec: 0, nsec: 0 };
    if (typeof t !== 'bigint') throw new FsError('EINVAL', `utimens ${path}: ${what} must be nanoseconds as a bigint, or null for now`, path);
    const p = nsToPair(t);
    if (!Number.isSafeInteger(p.sec)) throw new FsError('EINVAL', `utimens ${path}: ${what} is out of range`, path);
    return { now: false, ...p };
  };
  const a = pair(atimeNs, 'atime');
  const m = pair(mtimeNs, 'mtime');
  return { path, atimeNow: a.now, atimeSec: a.sec, atimeNsec: a.nsec, mtimeNow: m.now, mtimeSec: m.sec, mtimeNsec: m.nsec };
}
