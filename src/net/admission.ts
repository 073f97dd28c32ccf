// Who may hold a connection slot on a bridge's listening port, and how refusals are logged.
//
// Slots. A node holds two kinds of inbound connections: unauthenticated ones (between accept and
// a completed handshake, at most `maxHandshakes`) and authenticated clients (at most
// `clients.maxClients`). Without a per-address bound, one host holding idle sockets (reopening
// each one the node closes), or one client process opening connections, takes every slot and
// locks everyone else out. A SlotTable bounds both the total and the share of one remote
// address: an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64, so counting single
// v6 addresses would bound nothing). Handshake slots are also freed by the handshake deadline.
//
// Refusals are told, not silent: the node sends a Goodbye naming a `Refusal` (bridge.proto)
// before it closes, and the client turns it into an error with a POSIX-like code:
//   EAGAIN  too many unauthenticated connections (from this address, or in all): they finish or
//           time out within seconds, so trying again in a moment is the cure;
//   EUSERS  too many clients (from this address, or in all): held by connected clients;
//   ETIMEDOUT the handshake was not completed within the node's deadline;
//   EAUTH   a wrong or missing client token, cluster secret or identity proof.
//
// Logging. A refused connection is logged as a warning with its reason; but a peer with a wrong
// secret redials several times a second, and a host flooding the port is refused as fast as it
// connects, so a WarnLimiter lets through only the first few warnings per remote address and
// then one summary (how many more, which codes, the last reason) per interval.

import { FrameError } from '../wire/frame.js';

/** Why a node refused a connection (govfs.bridge.Refusal in bridge.proto). */
export const Refusal = {
  Unspecified: 0,
  TooManyHandshakesFromAddress: 1,
  TooManyHandshakes: 2,
  TooManyClientsFromAddress: 3,
  TooManyClients: 4,
  HandshakeTimeout: 5,
  AuthFailed: 6,
} as const;
export type Refusal = (typeof Refusal)[keyof typeof Refusal];

/** The error code a refusal stands for ('' for Unspecified: use the Goodbye's own code). */
export function refusalCode(r: number): string {
  switch (r) {
    case Refusal.TooManyHandshakesFromAddress:
    case Refusal.TooManyHandshakes:
      return 'EAGAIN';
    case Refusal.TooManyClientsFromAddress:
    case Refusal.TooManyClients:
      return 'EUSERS';
    case Refusal.HandshakeTimeout:
      return 'ETIMEDOUT';
    case Refusal.AuthFailed:
      return 'EAUTH';
    default:
      return '';
  }
}

/** The refusal a close code stands for, where the code alone says it. */
export function refusalOf(code: string): Refusal {
  return code === 'EAUTH' ? Refusal.AuthFailed : Refusal.Unspecified;
}

/** A connection refused for a reason its Goodbye names. */
export class AdmissionError extends FrameError {
  constructor(
    readonly refusal: Refusal,
    message: string,
  ) {
    super(refusalCode(refusal), message);
  }
}

/** The key connections are counted under: the IPv4 address (also when mapped into IPv6), or
 * the /64 prefix of an IPv6 address. */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  if (!ip.includes(':')) return ip;
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) return ip.slice(7);
  const bare = ip.replace(/%.*$/, '');
  const [head = '', tail] = bare.split('::', 2);
  const groups = (s: string): string[] => (s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${all.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

/** Bounded slots, counted per address key and in total. */
export class SlotTable {
  private readonly byAddress = new Map<string, number>();
  private used = 0;

  constructor(
    readonly kind: 'handshake' | 'client',
    readonly total: number,
    readonly perAddress: number,
  ) {
    if (!Number.isInteger(total) || total < 1) throw new RangeError(`the ${kind} limit must be a positive integer, got ${total}`);
    if (!Number.isInteger(perAddress) || perAddress < 1) throw new RangeError(`the per-address ${kind} limit must be a positive integer, got ${perAddress}`);
  }

  /** Slots in use. */
  get size(): number {
    return this.used;
  }

  count(key: string): number {
    return this.byAddress.get(key) ?? 0;
  }

  /** Why `key` may not take another slot now, or null if it may. */
  check(key: string): AdmissionError | null {
    const mine = this.count(key);
    if (mine >= this.perAddress) {
      return this.kind === 'handshake'
        ? new AdmissionError(Refusal.TooManyHandshakesFromAddress, `too many unauthenticated connections from ${key} (${mine}, the limit per address): try again in a moment`)
        : new AdmissionError(Refusal.TooManyClientsFromAddress, `too many clients from ${key} (${mine} connected, the limit per address): close some, or use another node`);
    }
    if (this.used >= this.total) {
      return this.kind === 'handshake'
        ? new AdmissionError(Refusal.TooManyHandshakes, `too many unauthenticated connections (${this.used}, the limit): try again in a moment`)
        : new AdmissionError(Refusal.TooManyClients, `too many clients (${this.used} connected, the limit): try another node or later`);
    }
    return null;
  }

  /** Take a slot for `key`, or say why not. */
  take(key: string): AdmissionError | null {
    const why = this.check(key);
    if (why) return why;
    this.byAddress.set(key, this.count(key) + 1);
    this.used++;
    return null;
  }

  release(key: string): void {
    const n = this.count(key);
    if (n === 0) return;
    if (n === 1) this.byAddress.delete(key);
    else this.byAddress.set(key, n - 1);
    this.used--;
  }
}

/** Suppressed warnings about one address since its last summary. */
interface Quiet {
  since: number;
  warned: number;
  suppressed: number;
  /** Has had warnings suppressed: only summaries until a whole interval passes without any. */
  noisy: boolean;
  codes: Map<string, number>;
  last: string;
}

export interface WarnSummary {
  key: string;
  suppressed: number;
  seconds: number;
  codes: Record<string, number>;
  last: string;
}

/** At most `burst` warnings per key, then one summary per `intervalMs` while it stays noisy. */
export class WarnLimiter {
  private readonly keys = new Map<string, Quiet>();

  constructor(
    readonly intervalMs = 10_000,
    readonly burst = 5,
    /** Keys remembered at once (a flood from many addresses must not grow this without bound). */
    private readonly maxKeys = 4096,
  ) {}

  /** Should this event be logged as a warning (true), or only counted for the summary? */
  admit(key: string, code: string, reason: string, now: number): boolean {
    let q = this.keys.get(key);
    if (!q) {
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
      q = { since: now, warned: 0, suppressed: 0, noisy: false, codes: new Map(), last: '' };
      this.keys.set(key, q);
    }
    if (!q.noisy && q.warned < this.burst) {
      q.warned++;
      return true;
    }
    q.suppressed++;
    q.codes.set(code, (q.codes.get(code) ?? 0) + 1);
    q.last = reason;
    return false;
  }

  /** Summaries due (one per key whose interval has passed with warnings suppressed); keys that
   * stayed quiet for a whole interval are forgotten. Call it periodically. */
  drain(now: number): WarnSummary[] {
    const out: WarnSummary[] = [];
    for (const [key, q] of this.keys) {
      if (now - q.since < this.intervalMs) continue;
      if (q.suppressed === 0) {
        this.keys.delete(key);
        continue;
      }
      out.push({ key, suppressed: q.suppressed, seconds: Math.round((now - q.since) / 1000), codes: Object.fromEntries(q.codes), last: q.last });
      q.noisy = true;
      q.since = now;
      q.suppressed = 0;
      q.codes = new Map();
    }
    return out;
  }
}
