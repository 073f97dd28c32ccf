// Refused connections of the bridge (docs/bridge.md, "Admission"): a socket refused at accept
// is told why (a Goodbye naming the refusal) and lingers a moment so the other end can read
// it; every refusal is counted, reported as an event, and logged, warnings rate-limited per
// address with a summary of what they left out. Used by Bridge (bridge.ts).

import type net from 'node:net';
import type { Logger } from 'pino';
import { type AdmissionError, WarnLimiter } from './admission.js';
import type { BridgeEvent, BridgeStats } from './bridge-types.js';
import { goodbyeFrame } from './handshake.js';

/** How long a socket refused at accept may take to read its Goodbye and close. */
const REFUSAL_LINGER_MS = 1000;
/** Refused sockets lingering at once, at most. */
const MAX_REFUSING = 256;

export class Refusals {
  private readonly limiter: WarnLimiter;
  /** Sockets refused at accept, closing after their Goodbye. */
  private readonly lingering = new Set<net.Socket>();

  constructor(
    private readonly stats: Pick<BridgeStats, 'rejected'>,
    private readonly log: Logger,
    private readonly emit: (e: BridgeEvent) => void,
    logIntervalMs: number,
  ) {
    this.limiter = new WarnLimiter(logIntervalMs);
  }

  /** Count, log (warnings rate-limited per address `key`) and report a refused connection. */
  reject(remote: string, key: string, location: string | null, code: string, reason: string): void {
    this.stats.rejected++;
    const warn = this.limiter.admit(key, code, reason, performance.now());
    this.log[warn ? 'warn' : 'debug']({ remote, peer: location, code }, `bridge connection refused: ${reason}`);
    this.emit({ type: 'rejected', remote, location, code, reason });
  }

  /** Refuse a socket before serving it: say why (a Goodbye naming the refusal), then close. */
  refuseSocket(socket: net.Socket, remote: string, key: string, why: AdmissionError): void {
    this.reject(remote, key, null, why.code, why.message);
    socket.on('error', () => {});
    // A flood of refusals must not hold sockets open: past this many, close without a word.
    if (this.lingering.size >= MAX_REFUSING) {
      socket.destroy();
      return;
    }
    this.lingering.add(socket);
    // Read (and drop) what it sends: closing with unread bytes would reset the connection, and
    // the reset can discard the Goodbye before the other end reads it.
    socket.resume();
    socket.end(goodbyeFrame(why.code, why.message, why.refusal));
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.lingering.delete(socket);
    });
  }

  /** One warning per noisy address per interval: how many refusals its warnings left out. */
  summarize(now: number): void {
    for (const s of this.limiter.drain(now)) {
      const codes = Object.entries(s.codes).map(([c, n]) => `${c}: ${n}`).join(', ');
      this.log.warn({ remote: s.key, refused: s.suppressed, codes: s.codes }, `bridge connections refused: ${s.suppressed} more from ${s.key} in the last ${s.seconds} s (${codes}); the last: ${s.last}`);
    }
  }

  /** The bridge stops: no refused socket lingers. */
  destroyAll(): void {
    for (const socket of this.lingering) socket.destroy();
    this.lingering.clear();
  }
}
