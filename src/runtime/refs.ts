// How a message reaches an actor: addresses (`location#/path`), refs, and the envelopes that
// carry a sender, an ask correlation or a system kind. Cut out of runtime.ts (issue 15, point 3).

import { EnvelopeKind } from '../wire/registry.js';
import { RuntimeError } from './errors.js';
import { traceNow, tracer, typeOf } from './trace.js';
import type { Message, Ref } from './types.js';
import type { ActorCell, LocalRuntime } from './runtime.js';

/** A mailbox entry with a sender, an ask correlation or a system kind. A plain same-location
 * tell is queued as the message itself: passed by reference, never encoded, nothing allocated. */
export class Envelope {
  /** When a traced envelope was queued (for its mailbox wait); 0 when untraced. */
  readonly at: number;
  constructor(
    readonly msg: Message,
    readonly from: string,
    readonly kind: EnvelopeKind,
    readonly corr: number,
    /** The request trace it belongs to (trace.ts); 0: none. */
    readonly trace = 0,
  ) {
    this.at = trace === 0 ? 0 : traceNow();
  }
}

export function splitAddress(address: string): { location: string; path: string } {
  const i = address.indexOf('#');
  if (i < 0) throw new RuntimeError('EINVAL', `malformed actor address "${address}" (want location#/path)`);
  return { location: address.slice(0, i), path: address.slice(i + 1) };
}

export class RefImpl<M> implements Ref<M> {
  /** The target's cell when it lives on this location (resolved on first use). */
  private cell: ActorCell | null | undefined;
  constructor(
    private readonly runtime: LocalRuntime,
    readonly address: string,
  ) {}
  tell(msg: M): void {
    let cell = this.cell;
    if (cell === undefined || (cell !== null && cell.stopped)) cell = this.cell = this.runtime.localCell(this.address);
    if (cell !== null) {
      if (tracer.on && tracer.current !== 0) {
        tracer.record(tracer.current, 'send', this.address, typeOf(msg));
        cell.enqueue(new Envelope(msg, '', EnvelopeKind.Tell, 0, tracer.current));
      } else cell.enqueue(msg);
    } else this.runtime.send(this.address, msg, '', EnvelopeKind.Tell, 0);
  }
  toString(): string {
    return this.address;
  }
  toJSON(): string {
    return this.address;
  }
}
