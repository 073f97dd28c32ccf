// Capabilities as leases (issue 5; thesis 3.1 "open region", 3.3 "Capabilities").
//
// Write leases are issued by the minister and are part of the ministry's replicated state: the
// minister logs the grant (which stops members granting conflicting reads), revokes conflicting
// read leases at every member, waits until none can still be valid, and only then tells the
// client.
// Renewals and releases are logged too. Every member therefore knows every write lease, so a
// new minister recovers the table from the log, and a new clerk learns the current write
// leases before it serves (it serves only once caught up).
//
// Read leases are issued by clerks (and the minister) from local state, never logged: a member
// grants a read only while caught up with the minister and while no write lease on the range
// can be valid. When a member is cut off it stops being caught up within a heartbeat
// and so stops granting; its leases then run out within their TTL. A minister that cannot
// reach a member waits that long before it grants a conflicting write, and a new minister (or
// one whose ministry was re-staffed) waits it out once before granting any write: the grace
// period covers read leases it cannot ask about.
//
// Time. A lease tells its holder to stop at (the holder's clock when it sent the request) +
// ttl. Grantors judge with their own clocks from later instants (when the grant or renewal
// committed, as they learned it), and add `maxDriftMs`, the explicit bound on how far clocks of
// different nodes may disagree over one lease period. So a grantor always thinks a lease valid
// at least as long as its holder does, as long as the drift bound holds.

import { rangesOverlap, type LeaseMode } from '../fs/ranges.js';
import type { FsErrorData } from '../fs/errors.js';
import { LogCodec, type WriteLeasesMsg } from '../wire/log-codec.js';

export interface LeaseSettings {
  /** Lease duration (default 5 s). */
  ttlMs: number;
  /** Bound on clock disagreement between any two nodes over one lease period (default 100 ms). */
  maxDriftMs: number;
}

export const DEFAULT_LEASES: LeaseSettings = { ttlMs: 5_000, maxDriftMs: 100 };

/** What a holder is told. `end` null is the whole file (JSON has no Infinity). */
export interface LeaseGrant {
  id: string;
  path: string;
  mode: LeaseMode;
  start: number;
  end: number | null;
  token: number;
  ttlMs: number;
  /** Node that granted it: renew and release there. */
  grantedBy: string;
  /** How long the grantor held the request before granting (its clock): the holder may count
   * its lease from its send time plus this, less the drift the two clocks may have had. */
  heldMs: number;
  /** The drift bound, as a fraction of a lease period (maxDriftMs / ttlMs). */
  driftRate: number;
}

/** Replicated lease log entries. */
export type LeaseEntry =
  | { op: 'lease.grant'; id: string; clientId: string; path: string; start: number; end: number | null; ttlMs: number; notify?: string }
  | { op: 'lease.renew'; id: string; ttlMs: number }
  | { op: 'lease.release'; id: string };

/** What every lease records of its holder and range. */
interface HeldRange {
  id: string;
  clientId: string;
  /** Where to tell the holder its lease is revoked. */
  notify: string;
  path: string;
  start: number;
  end: number;
  token: number;
}

interface WriteLease extends HeldRange {
  ttlMs: number;
  /** Local time this member learned of the grant or last renewal. */
  since: number;
}

const endOf = (e: number | null): number => (e === null ? Infinity : e);

/** The write leases of a ministry, as every member applies them from the log. */
export class WriteLeaseState {
  readonly leases = new Map<string, WriteLease>();
  /** Fencing tokens: one increasing counter per ministry, so monotonic per file. */
  token = 0;

  apply(e: LeaseEntry, now: number): { ok: true; token?: number } | { ok: false; error: FsErrorData } {
    switch (e.op) {
      case 'lease.grant': {
        const token = ++this.token;
        this.leases.set(e.id, { id: e.id, clientId: e.clientId, notify: e.notify ?? '', path: e.path, start: e.start, end: endOf(e.end), token, ttlMs: e.ttlMs, since: now });
        return { ok: true, token };
      }
      case 'lease.renew': {
        const l = this.leases.get(e.id);
        if (!l) return { ok: false, error: { code: 'ESTALE', message: `lease ${e.id} is no longer held (expired or released): open the file again` } };
        l.since = now;
        l.ttlMs = e.ttlMs;
        return { ok: true, token: l.token };
      }
      case 'lease.release':
        this.leases.delete(e.id);
        return { ok: true };
    }
  }

  /** Until when (local ms) this member must treat `l` as possibly valid. */
  validUntil(l: WriteLease, maxDriftMs: number): number {
    return l.since + l.ttlMs + maxDriftMs;
  }

  /** Write leases of other clients on an overlapping range that may still be valid. */
  conflictingWrites(clientId: string, path: string, start: number, end: number, now: number, maxDriftMs: number): WriteLease[] {
    const out: WriteLease[] = [];
    for (const l of this.leases.values()) {
      if (l.clientId === clientId || l.path !== path || !rangesOverlap(l, { start, end })) continue;
      if (this.validUntil(l, maxDriftMs) > now) out.push(l);
    }
    return out;
  }

  /** For a ministry snapshot: govfs.log.WriteLeases (src/wire/log-codec.ts). */
  toBytes(): Uint8Array {
    return LEASES.encode({
      token: this.token,
      leases: [...this.leases.values()].map((l) => ({ id: l.id, clientId: l.clientId, notify: l.notify, path: l.path, start: l.start, end: l.end === Infinity ? null : l.end, token: l.token, ttlMs: l.ttlMs })),
    });
  }

  /** From a snapshot (protobuf, or the JSON of older data folders: '{'): every lease counts
   * from `now`, the restoring member's clock (later than any grant in it, so never shorter
   * than the holders believe). */
  static fromBytes(bytes: Uint8Array, now: number): WriteLeaseState {
    const x: Partial<WriteLeasesMsg> = bytes.length === 0 ? {} : bytes[0] === JSON_START ? (JSON.parse(new TextDecoder().decode(bytes)) as Partial<WriteLeasesMsg>) : LEASES.decode(bytes);
    const s = new WriteLeaseState();
    s.token = x.token ?? 0;
    for (const l of x.leases ?? []) {
      s.leases.set(l.id, { id: l.id, clientId: l.clientId, notify: l.notify, path: l.path, start: l.start, end: endOf(l.end ?? null), token: l.token, ttlMs: l.ttlMs, since: now });
    }
    return s;
  }
}

const LEASES = new LogCodec('govfs.log.WriteLeases');
const JSON_START = 0x7b;

/** A read lease a member granted (local, not replicated). */
export interface ReadLease extends HeldRange {
  /** Local time after which the holder no longer believes in it (+ drift). */
  validUntil: number;
  revoking: boolean;
}

export class ReadLeaseTable {
  readonly leases = new Map<string, ReadLease>();
  private counter = 0;

  constructor(private readonly node: string) {}

  grant(r: Omit<ReadLease, 'id' | 'revoking'>): ReadLease {
    const lease: ReadLease = { ...r, id: `${this.node}-r${++this.counter}`, revoking: false };
    this.leases.set(lease.id, lease);
    return lease;
  }

  /** Live read leases of other clients overlapping the range. */
  conflicting(exceptClient: string, path: string, start: number, end: number, now: number): ReadLease[] {
    const out: ReadLease[] = [];
    for (const l of this.leases.values()) {
      if (l.validUntil <= now) {
        this.leases.delete(l.id);
        continue;
      }
      if (l.clientId !== exceptClient && l.path === path && rangesOverlap(l, { start, end })) out.push(l);
    }
    return out;
  }
}
