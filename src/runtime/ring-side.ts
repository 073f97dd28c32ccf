// Large payloads beside the rings (docs/data-path.md). A ring is sized for control messages
// (1 MiB); a chunk's bytes (MiBs) would not fit, and copying them through ring memory costs two
// copies (encode in, copy out). So the sender encodes a message with every bytes field of at
// least OOB_MIN_BYTES left empty (DirectWriter.oobMin), posts those payloads on the ring's side
// channel (a MessagePort per ring) before it publishes the frame, and marks the frame's header
// (OOB_FLAG). The consumer, on reaching a marked frame, takes the side message synchronously
// (receiveMessageOnPort: a port is FIFO and the post happened before the frame was published,
// so it is there) and the decoder puts the payloads back (MessageRegistry.decodeAt's `oob`).
//
// What crosses: an ArrayBuffer the sender handed over (`handOver`) moves to the receiving thread
// (transferred: no copy; the sender's views of it become empty); anything else is copied once,
// into a fresh buffer that is then moved. The receiver decodes the payloads as views of those
// buffers, without a further copy.

import { type MessagePort, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { forgetHandedOver, isHandedOver } from './hand-over.js';

/** Bytes fields at least this long travel beside a ring's frame, not in it. */
export const OOB_MIN_BYTES = 16 * 1024;

/** Bit 31 of a ring frame's length header: its payloads are on the side channel. */
export const OOB_FLAG = 0x8000_0000;

export { handOver, isHandedOver } from './hand-over.js';

/** What travels on a side channel for one frame. */
export interface SideMessage {
  at: number[];
  data: Uint8Array[];
}

export interface SideStats {
  /** Payloads moved without a copy, and payloads copied once. */
  moved: number;
  copied: number;
  /** Their bytes. */
  movedBytes: number;
  copiedBytes: number;
}

export function newSideStats(): SideStats {
  return { moved: 0, copied: 0, movedBytes: 0, copiedBytes: 0 };
}

/** Post one frame's payloads (`at`/`data` as DirectWriter collected them) on `port`. */
export function postSide(port: MessagePort, at: readonly number[], data: readonly Uint8Array[], stats: SideStats): void {
  const out: Uint8Array[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const v of data) {
    const b = v.buffer;
    if (isHandedOver(v) && v.byteLength * 2 >= b.byteLength) {
      if (!transfer.includes(b as ArrayBuffer)) transfer.push(b as ArrayBuffer);
      out.push(v);
      stats.moved++;
      stats.movedBytes += v.byteLength;
    } else {
      // Not zero-filled first (it is overwritten at once), and not from Node's pool, whose
      // shared ArrayBuffer cannot be transferred.
      const c = Buffer.allocUnsafeSlow(v.byteLength);
      c.set(v);
      transfer.push(c.buffer as ArrayBuffer);
      out.push(c);
      stats.copied++;
      stats.copiedBytes += v.byteLength;
    }
  }
  const msg: SideMessage = { at: at.slice(), data: out };
  port.postMessage(msg, transfer);
  for (const b of transfer) forgetHandedOver(b);
}

/** The next side message on `port`, or undefined when none has arrived. */
export function takeSide(port: MessagePort): SideMessage | undefined {
  const r = receiveMessageOnPort(port);
  return r === undefined ? undefined : (r.message as SideMessage);
}

/** A side channel for one ring: `producer` for its RingSender, `consumer` for its RingInbox. */
export function createSideChannel(): { producer: MessagePort; consumer: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  return { producer: port1, consumer: port2 };
}
