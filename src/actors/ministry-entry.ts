// Every ministry log entry, as protobuf: govfs.log.MinistryEntry (src/wire/proto/log.proto), a
// oneof of a client's change (itself a oneof of mkdir, create, rm, rmdir, rename, setSize), the
// expiry of silent clients, and write-lease grant, renewal and release. Behind the format byte
// 0x02 (src/wire/log-codec.ts says why).
//
// Older logs are still read: a client change in the hand-written binary form (tag 0x01,
// ministry-entry-legacy.ts) and anything in JSON ('{'). That binary form was made because, as
// JSON, parsing the entry was about a sixth of each replica's apply time. Protobuf costs about
// what it did. Encode + decode of a create entry into the namespace's op, `npm run bench --
// log-entry` (median of rounds), three runs on 2 cores shared with other work (load 12-16):
// binary 3.1-5.1 µs, protobuf 3.5-4.9 µs (0.95-1.12x binary), JSON 6.6-8.8 µs; a plain loop
// over one entry at lower load: binary 0.70 µs, protobuf 0.74 µs. Sizes: 62 bytes against 58
// (JSON 136). Well within the 1.5x that would have kept the binary form as an exception.

import { FsError } from '../fs/errors.js';
import type { ExpireClientsOp, MutationOp, ClientOp as NsClientOp, Op } from '../fs/namespace.js';
import { DecodeError } from '../wire/errors.js';
import { LogCodec, LOG_FORMAT_PROTOBUF, type ClientChangeMsg, type MinistryEntryMsg } from '../wire/log-codec.js';
import { CLIENT_CHANGE_TAG, decodeClientChange } from './ministry-entry-legacy.js';
import type { LeaseEntry } from './leases.js';
import type { CrossRenameDecisionMsg, CrossRenameInMsg, CrossRenameOutMsg } from '../wire/log-codec.js';

/** The two phases of a rename across ministries (rename-ledger.ts). */
export type CrossRenameEntry =
  | ({ op: 'xrename.out' } & CrossRenameOutMsg)
  | ({ op: 'xrename.in' } & CrossRenameInMsg)
  | { op: 'xrename.end'; decision: CrossRenameDecisionMsg; now: number };

/** What a ministry's log holds. (Older logs in JSON may hold any namespace Op.) */
export type MinistryLogEntry = NsClientOp | ExpireClientsOp | LeaseEntry | CrossRenameEntry;

const ENTRY = new LogCodec('govfs.log.MinistryEntry');
const JSON_START = 0x7b;
const dec = new TextDecoder();

export function encodeMinistryEntry(e: MinistryLogEntry): Uint8Array {
  return ENTRY.encode(toMsg(e));
}

/** The entry in `data`, of any form a ministry log has held. Throws FsError EINVAL when it is
 * none. A JSON entry is returned as parsed: applying it checks it, as it always did. */
export function decodeMinistryEntry(data: Uint8Array): MinistryLogEntry | Op {
  switch (data[0]) {
    case LOG_FORMAT_PROTOBUF: {
      let m: MinistryEntryMsg;
      try {
        m = ENTRY.decode(data);
      } catch (e) {
        if (e instanceof DecodeError) throw malformed(e.message);
        throw e;
      }
      return fromMsg(m);
    }
    case CLIENT_CHANGE_TAG:
      return decodeClientChange(data);
    case JSON_START:
      try {
        return JSON.parse(dec.decode(data)) as MinistryLogEntry | Op;
      } catch {
        throw malformed('bad JSON');
      }
    default:
      throw malformed(`unknown format ${data[0]}`);
  }
}

function toMsg(e: MinistryLogEntry): MinistryEntryMsg {
  switch (e.op) {
    case 'client':
      return { client: toChangeMsg(e) };
    case 'expireClients':
      return { expireClients: { now: e.now, ttlMs: e.ttlMs } };
    case 'lease.grant':
      return { leaseGrant: { id: e.id, clientId: e.clientId, path: e.path, start: e.start, end: e.end, ttlMs: e.ttlMs, notify: e.notify ?? '' } };
    case 'lease.renew':
      return { leaseRenew: { id: e.id, ttlMs: e.ttlMs } };
    case 'lease.release':
      return { leaseRelease: { id: e.id } };
    case 'xrename.out': {
      const { op: _op, ...m } = e;
      return { crossRenameOut: m };
    }
    case 'xrename.in': {
      const { op: _op, ...m } = e;
      return { crossRenameIn: m };
    }
    case 'xrename.end':
      return { crossRenameEnd: { decision: e.decision, now: e.now } };
  }
}

function toChangeMsg(c: NsClientOp): ClientChangeMsg {
  const m: ClientChangeMsg = { clientId: c.clientId, seq: c.seq, acked: c.acked ?? 0, now: c.now };
  const b = c.body;
  switch (b.op) {
    case 'mkdir':
      m.mkdir = { path: b.path, parents: b.parents === true };
      break;
    case 'create':
      m.create = b.exclusive === undefined ? { path: b.path } : { path: b.path, exclusive: b.exclusive };
      break;
    case 'rm':
      m.rm = { path: b.path };
      break;
    case 'rmdir':
      m.rmdir = { path: b.path, recursive: b.recursive === true };
      break;
    case 'rename':
      m.rename = { from: b.from, to: b.to };
      break;
    case 'setSize':
      m.setSize = { path: b.path, size: b.size };
      break;
  }
  return m;
}

function fromMsg(m: MinistryEntryMsg): MinistryLogEntry {
  switch (m.entry) {
    case 'client':
      return fromChangeMsg(m.client!);
    case 'expireClients':
      return { op: 'expireClients', now: m.expireClients!.now, ttlMs: m.expireClients!.ttlMs };
    case 'leaseGrant': {
      const g = m.leaseGrant!;
      return { op: 'lease.grant', id: g.id, clientId: g.clientId, path: g.path, start: g.start, end: g.end ?? null, ttlMs: g.ttlMs, notify: g.notify };
    }
    case 'leaseRenew':
      return { op: 'lease.renew', id: m.leaseRenew!.id, ttlMs: m.leaseRenew!.ttlMs };
    case 'leaseRelease':
      return { op: 'lease.release', id: m.leaseRelease!.id };
    case 'crossRenameOut': {
      const o = m.crossRenameOut!;
      return { op: 'xrename.out', clientId: o.clientId, seq: o.seq, acked: o.acked, now: o.now, from: o.from, to: o.to, target: o.target, txid: o.txid };
    }
    case 'crossRenameIn': {
      const i = m.crossRenameIn!;
      const tree = i.tree.map((n) => ({ path: n.path, dir: n.dir, size: n.size, btime: n.btime, mtime: n.mtime, ctime: n.ctime }));
      return { op: 'xrename.in', txid: i.txid, source: i.source, from: i.from, to: i.to, tree, now: i.now, index: i.index, replaced: i.replaced };
    }
    case 'crossRenameEnd': {
      const d = m.crossRenameEnd!.decision;
      if (!d) throw malformed('a rename end without its decision');
      return { op: 'xrename.end', now: m.crossRenameEnd!.now, decision: { txid: d.txid, commit: d.commit, retry: d.retry, code: d.code, message: d.message, source: d.source, target: d.target, targetIndex: d.targetIndex, replaced: d.replaced } };
    }
    default:
      throw malformed('an entry of no known kind');
  }
}

function fromChangeMsg(c: ClientChangeMsg): NsClientOp {
  let body: MutationOp;
  switch (c.change) {
    case 'mkdir':
      body = { op: 'mkdir', path: c.mkdir!.path, parents: c.mkdir!.parents };
      break;
    case 'create': {
      const x = c.create!;
      body = x.exclusive === null || x.exclusive === undefined ? { op: 'create', path: x.path } : { op: 'create', path: x.path, exclusive: x.exclusive };
      break;
    }
    case 'rm':
      body = { op: 'rm', path: c.rm!.path };
      break;
    case 'rmdir':
      body = { op: 'rmdir', path: c.rmdir!.path, recursive: c.rmdir!.recursive };
      break;
    case 'rename':
      body = { op: 'rename', from: c.rename!.from, to: c.rename!.to };
      break;
    case 'setSize':
      body = { op: 'setSize', path: c.setSize!.path, size: c.setSize!.size };
      break;
    default:
      throw malformed('a client change of no known kind');
  }
  const op: NsClientOp = { op: 'client', clientId: c.clientId, seq: c.seq, now: c.now, body };
  if (c.acked !== 0) op.acked = c.acked;
  return op;
}

function malformed(why: string): FsError {
  return new FsError('EINVAL', `undecodable log entry: ${why}`);
}
