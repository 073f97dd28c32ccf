import { describe, expect, it } from 'vitest';
import { requestOp, isLeaseOp, requestCreds } from '../../src/actors/request-op.js';
import { FsError } from '../../src/fs/errors.js';
import { EnvelopeKind, MessageRegistry } from '../../src/wire/registry.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { protoTypes } from '../support/proto-types.js';

// requestOp is the one place a member reads a request's `oneof op`: every case gives the flat
// operation the ministry and the lease service work on, and whatever else a client sends gives
// EINVAL with a message that says what is wrong, never a throw.

const registry = MessageRegistry.standard({ verify: true });
const header = { type: 'govfs.fs.FsRequest', clientId: 'c1', seq: 1, path: '/d', lastSeen: 0, linearizable: false, ticketTo: '', mutation: true, acked: 0 };

/** Each case as sent (the oneof field) and as the ministry gets it (flat). */
const CASES: [Record<string, unknown>, Record<string, unknown>][] = [
  [{ mkdir: { path: '/d/a', parents: true } }, { op: 'mkdir', path: '/d/a', parents: true }],
  [{ create: { path: '/d/f' } }, { op: 'create', path: '/d/f' }],
  [{ rm: { path: '/d/f' } }, { op: 'rm', path: '/d/f' }],
  [{ rmdir: { path: '/d', recursive: true } }, { op: 'rmdir', path: '/d', recursive: true }],
  [{ rename: { from: '/d/f', to: '/d/g' } }, { op: 'rename', from: '/d/f', to: '/d/g' }],
  [{ ls: { path: '/d' } }, { op: 'ls', path: '/d' }],
  [{ stat: { path: '/d/f' } }, { op: 'stat', path: '/d/f' }],
  [
    { leaseOpen: { path: '/d/f', mode: 'write', start: 4, end: Infinity, wait: true, deadlineMs: 50, reqId: 'o1' } },
    { op: 'lease-open', path: '/d/f', mode: 'write', start: 4, end: Infinity, wait: true, deadlineMs: 50, reqId: 'o1' },
  ],
  [{ leaseRenew: { id: 'l1', mode: 'read' } }, { op: 'lease-renew', id: 'l1', mode: 'read' }],
  [{ leaseRelease: { id: 'l1', mode: 'write' } }, { op: 'lease-release', id: 'l1', mode: 'write' }],
  // POSIX metadata (issue 18)
  [{ mkdir: { path: '/d/a', parents: false, mode: 0o1777 } }, { op: 'mkdir', path: '/d/a', parents: false, mode: 0o1777 }],
  [{ create: { path: '/d/f', mode: 0o600 } }, { op: 'create', path: '/d/f', mode: 0o600 }],
  [{ create: { path: '/d/f', noStat: true } }, { op: 'create', path: '/d/f', noStat: true }],
  [{ create: { path: '/d/f', noStat: false } }, { op: 'create', path: '/d/f' }],
  [{ chmod: { path: '/d/f', mode: 0o4755 } }, { op: 'chmod', path: '/d/f', mode: 0o4755 }],
  [{ chown: { path: '/d/f', uid: -1, gid: 100 } }, { op: 'chown', path: '/d/f', uid: -1, gid: 100 }],
  [
    { utimens: { path: '/d/f', atimeNow: true, atimeSec: 0, atimeNsec: 0, mtimeNow: false, mtimeSec: -3, mtimeNsec: 5 } },
    { op: 'utimens', path: '/d/f', atimeNow: true, atimeSec: 0, atimeNsec: 0, mtimeNow: false, mtimeSec: -3, mtimeNsec: 5 },
  ],
  [{ symlink: { target: '../x', path: '/d/l' } }, { op: 'symlink', target: '../x', path: '/d/l' }],
  [{ readlink: { path: '/d/l' } }, { op: 'readlink', path: '/d/l' }],
  [{ link: { from: '/d/f', to: '/d/g' } }, { op: 'link', from: '/d/f', to: '/d/g' }],
];

function einval(r: unknown): string {
  expect(r).toBeInstanceOf(FsError);
  expect((r as FsError).code).toBe('EINVAL');
  return (r as FsError).message;
}

describe('requestOp', () => {
  it('gives every case of FsRequest.op flat, as built in process and as decoded off the wire', () => {
    for (const [sent, flat] of CASES) {
      expect(requestOp({ ...header, ...sent })).toEqual(flat);
      const decoded = registry.roundTrip({ to: 'n1#/n1', from: 'c#/', kind: EnvelopeKind.Ask, corr: 1, msg: { ...header, ...sent } }).msg;
      expect(requestOp(decoded), JSON.stringify(sent)).toEqual(flat);
    }
    expect(CASES.filter(([sent]) => isLeaseOp(requestOp({ ...header, ...sent }) as never)).length).toBe(3);
  });

  it('reads the caller\'s credentials (root when absent), and refuses malformed ones (EINVAL)', () => {
    expect(requestCreds(header)).toMatchObject({ uid: 0, gid: 0 });
    const creds = { uid: 1000, gid: 100, groups: [4, 24] };
    const decoded = registry.roundTrip({ to: 'n1#/n1', from: 'c#/', kind: EnvelopeKind.Ask, corr: 1, msg: { ...header, stat: { path: '/d' }, creds } }).msg;
    expect(requestCreds(decoded)).toEqual(creds);
    for (const bad of [{ uid: -1, gid: 0, groups: [] }, { uid: 1.5, gid: 0, groups: [] }, { uid: 1, gid: 2 ** 32, groups: [] }, { uid: 1, gid: 1, groups: [NaN] }, { uid: 1, gid: 1, groups: new Array(300).fill(1) }, 'root']) {
      expect(einval(requestCreds({ creds: bad })), JSON.stringify(bad)).toMatch(/credentials/);
    }
  });

  it('reads fields left out as their proto3 defaults, as the decoder does', () => {
    expect(requestOp({ ...header, mkdir: { path: '/x' } })).toEqual({ op: 'mkdir', path: '/x', parents: false });
    expect(requestOp({ ...header, create: {} })).toEqual({ op: 'create', path: '' }); // the namespace refuses '' (EINVAL)
  });

  it('refuses a request with no operation, or only an older client\'s JSON one, saying what it wants', () => {
    expect(einval(requestOp(header))).toMatch(/no operation; want exactly one of mkdir, create/);
    const old = registry.roundTrip({ to: 'n1#/n1', from: '', kind: EnvelopeKind.Ask, corr: 1, msg: { ...header, opJson: '{"op":"create","path":"/d/x"}' } }).msg;
    expect(einval(requestOp(old))).toMatch(/no operation/);
    // protobufjs's virtual case name alone is no operation either.
    expect(einval(requestOp({ ...header, op: 'create' }))).toMatch(/no operation/);
  });

  it('refuses two operations in one request, as the decoder leaves them from bytes that carry both', () => {
    const type = protoTypes().find((t) => t.fullName === '.govfs.fs.FsRequest')!;
    const a = type.encode(type.fromObject({ clientId: 'c1', create: { path: '/d/x' } })).finish();
    const b = type.encode(type.fromObject({ mkdir: { path: '/d/y' } })).finish();
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const decoded = type.decode(both) as unknown as Record<string, unknown>;
    expect(decoded['create']).toBeTruthy();
    expect(decoded['mkdir']).toBeTruthy();
    expect(einval(requestOp(decoded))).toMatch(/two operations \(mkdir and create\)|two operations \(create and mkdir\)/);
  });

  it('refuses fields of the wrong type (a message that never crossed the wire) and a mode that is not read or write', () => {
    expect(einval(requestOp({ ...header, create: { path: 5 } }))).toBe('malformed request: create.path is 5, want a string');
    expect(einval(requestOp({ ...header, create: { path: '/x', noStat: 1 } }))).toBe('malformed request: create.noStat is 1, want a boolean');
    expect(einval(requestOp({ ...header, mkdir: { path: '/x', parents: 'yes' } }))).toMatch(/mkdir\.parents is the string "yes", want a boolean/);
    expect(einval(requestOp({ ...header, rename: { from: '/a', to: ['/b'] } }))).toMatch(/rename\.to is an array/);
    expect(einval(requestOp({ ...header, leaseOpen: { path: '/f', mode: 'exclusive' } }))).toMatch(/leaseOpen\.mode is the string "exclusive", want "read" or "write"/);
    expect(einval(requestOp({ ...header, leaseRenew: { id: 'l1' } }))).toMatch(/leaseRenew\.mode is the string "", want "read" or "write"/);
    expect(einval(requestOp({ ...header, stat: 'x' }))).toMatch(/stat is not a message/);
    // A long value is cut short in the message.
    expect(einval(requestOp({ ...header, leaseRelease: { id: 'l1', mode: 'x'.repeat(5_000) } })).length).toBeLessThan(200);
  });

  it('never throws, whatever it is given', () => {
    const rnd = new SeededRandom(3);
    const odd = [undefined, null, 0, -1, NaN, Infinity, '', 'x', '/d', 'read', true, [], {}, { path: '/d' }, { path: 7 }, { id: 'l', mode: 'read' }];
    const keys = ['mkdir', 'create', 'rm', 'rmdir', 'rename', 'ls', 'stat', 'leaseOpen', 'leaseRenew', 'leaseRelease', 'op', 'path'];
    let refused = 0;
    for (let i = 0; i < 2_000; i++) {
      const req: Record<string, unknown> = {};
      for (let n = rnd.int(0, 3); n > 0; n--) req[keys[rnd.int(0, keys.length - 1)]!] = odd[rnd.int(0, odd.length - 1)];
      const r = requestOp(req);
      if (r instanceof FsError) {
        expect(r.code).toBe('EINVAL');
        refused++;
      } else expect(typeof r.op).toBe('string');
    }
    expect(refused).toBeGreaterThan(1_000);
  });
});
