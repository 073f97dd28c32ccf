// The shared memory of the cross-thread mailboxes (ring-channel.ts describes the protocol):
// one ring's layout, the doorbells, allocating rings and a mesh of them, and the views both
// ends read it through. Cut out of ring-channel.ts (issue 15, point 3).

import type { MessagePort } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { RuntimeError } from './errors.js';
import { createSideChannel } from './ring-side.js';


/** Default ring capacity: 1 MiB of frames. */
export const DEFAULT_RING_CAPACITY = 1 << 20;
/** Bytes of the length header in front of each envelope. */
export const FRAME_HEADER_BYTES = 4;
/** Default number of frames an inbox delivers before it yields to the event loop. */
export const DEFAULT_BATCH_LIMIT = 2048;

// The shared words (ring-channel.ts): a doorbell's two and what BELL holds, a ring's control
// word and what SPACE holds, and the ring's write and read indexes (its `ptrs`).
export const BELL = 0, BELL_ID = 1;
export const PARKED = 0, AWAKE = 1;
export const SPACE = 0;
export const SPACE_WAITING = 0, SPACE_IDLE = 1;
export const WR = 0, RD = 1;
export const KEEPALIVE_MS = 2 ** 31 - 1;

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

export const waitAsync: WaitAsync = (() => {
  const fn = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  if (typeof fn !== 'function') throw new Error('ring channels need Atomics.waitAsync (Node.js 16+)');
  return fn.bind(Atomics) as WaitAsync;
})();

export const noop = (): void => {};

/** The shared memory of one SPSC ring. Plain data: structured-clonable, SharedArrayBuffers shared. */
export interface RingChannelShared {
  /** ringbuf.js Uint8 storage (RingBuffer.getStorageForCapacity(capacity, Uint8Array)). */
  readonly ring: SharedArrayBuffer;
  /** Int32 control words of this ring ([SPACE]). */
  readonly control: SharedArrayBuffer;
  /** The consuming thread's doorbell (see `createDoorbell`); shared by every ring into it. */
  readonly doorbell: SharedArrayBuffer;
  /** Usable bytes; a frame (4 + envelope bytes) must fit. */
  readonly capacity: number;
  /** For messages and stats, e.g. "t1->t2". */
  readonly label: string;
}

/** The doorbell of one consuming thread: Int32 [BELL, ID]. */
export function createDoorbell(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(8);
  const words = new Int32Array(sab);
  words[BELL] = AWAKE;
  words[BELL_ID] = nextDoorbellId();
  return sab;
}

let doorbellCounter = 0;
function nextDoorbellId(): number {
  // Distinct within a process: the creating thread's id in the high bits, a counter below.
  // (Doorbells are normally all created by the main thread.)
  doorbellCounter = (doorbellCounter + 1) & 0xfffff;
  return ((threadIdOf() & 0x7ff) << 20) | doorbellCounter;
}

let cachedThreadId: number | undefined;
function threadIdOf(): number {
  if (cachedThreadId === undefined) {
    const g = globalThis as unknown as { process?: { threadId?: number } };
    cachedThreadId = typeof g.process?.threadId === 'number' ? g.process.threadId : 0;
  }
  return cachedThreadId;
}

export interface CreateRingOptions {
  /** Usable bytes of the ring (default 1 MiB). At least 16. */
  capacity?: number;
  /** The consuming thread's doorbell; a new one when omitted. */
  doorbell?: SharedArrayBuffer;
  label?: string;
}

/** Allocate one ring. Give every ring into the same consuming thread the same doorbell. */
export function createRingChannel(opts: CreateRingOptions = {}): RingChannelShared {
  const capacity = opts.capacity ?? DEFAULT_RING_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 16 || capacity > 0x7fff_fff0) {
    throw new RangeError(`ring capacity must be an integer between 16 and 2^31 bytes, got ${capacity}`);
  }
  const control = new SharedArrayBuffer(4);
  new Int32Array(control)[SPACE] = SPACE_IDLE;
  return {
    ring: RingBuffer.getStorageForCapacity(capacity, Uint8Array),
    control,
    doorbell: opts.doorbell ?? createDoorbell(),
    capacity,
    label: opts.label ?? 'ring',
  };
}

/** The rings one thread uses: `outgoing[j]` is the ring this thread produces into for thread j,
 * `incoming[j]` the ring thread j produces into for this one (null for itself). */
export interface ThreadRings {
  readonly thread: number;
  readonly doorbell: SharedArrayBuffer;
  readonly outgoing: (RingChannelShared | null)[];
  readonly incoming: (RingChannelShared | null)[];
}

/** The side channels (ring-side.ts: large payloads) of one thread's rings, its ends, in the
 * order of ThreadRings' lists. Not structured-clonable: transfer them to the thread
 * (`sidePorts`: a Worker's transferList). */
export interface ThreadSides {
  readonly outgoing: (MessagePort | null)[];
  readonly incoming: (MessagePort | null)[];
}

/** The ports in `t`, for a Worker's transferList. */
export function sidePorts(t: ThreadSides): MessagePort[] {
  return [...t.outgoing, ...t.incoming].filter((p): p is MessagePort => p !== null);
}

export interface RingMesh {
  readonly threads: number;
  /** `rings[from][to]`, null on the diagonal (same-thread messages never touch a ring). */
  readonly rings: (RingChannelShared | null)[][];
  /** What to hand to thread `i` (structured-clonable: put it in workerData). */
  forThread(i: number): ThreadRings;
  /** Thread `i`'s ends of the rings' side channels (transfer them; each once). */
  sidesForThread(i: number): ThreadSides;
}

/** One ring per ordered pair of `threads` threads, one doorbell per thread. */
export function createRingMesh(threads: number, opts: { capacity?: number; names?: string[] } = {}): RingMesh {
  const name = (i: number): string => opts.names?.[i] ?? `t${i}`;
  const doorbells = Array.from({ length: threads }, () => createDoorbell());
  const rings = Array.from({ length: threads }, (_, from) =>
    Array.from({ length: threads }, (_, to) =>
      from === to
        ? null
        : createRingChannel({ capacity: opts.capacity, doorbell: doorbells[to], label: `${name(from)}->${name(to)}` }),
    ),
  );
  const sides = rings.map((row) => row.map((r) => (r === null ? null : createSideChannel())));
  return {
    threads,
    rings,
    forThread(i: number): ThreadRings {
      if (!(i >= 0 && i < threads)) throw new RangeError(`no thread ${i} in a mesh of ${threads}`);
      return {
        thread: i,
        doorbell: doorbells[i]!,
        outgoing: rings[i]!.slice(),
        incoming: rings.map((row) => row[i]!),
      };
    },
    sidesForThread(i: number): ThreadSides {
      if (!(i >= 0 && i < threads)) throw new RangeError(`no thread ${i} in a mesh of ${threads}`);
      return {
        outgoing: sides[i]!.map((s) => s?.producer ?? null),
        incoming: sides.map((row) => row[i]?.consumer ?? null),
      };
    },
  };
}

/** Views on ringbuf.js's layout, shared by both ends. */
export class RingViews {
  readonly ptrs: Uint32Array;
  readonly storage: Uint8Array;
  /** The same bytes as a Buffer, for decoding strings in place. */
  readonly text: Buffer;
  /** Storage slots (capacity + 1): indexes run modulo this. */
  readonly size: number;
  readonly control: Int32Array;
  readonly bell: Int32Array;

  constructor(readonly shared: RingChannelShared) {
    const { ring, capacity } = shared;
    if (!(ring instanceof SharedArrayBuffer) || ring.byteLength !== 8 + capacity + 1) {
      throw new RuntimeError('EINVAL', `ring ${shared.label}: storage is not a ringbuf.js Uint8 ring of ${capacity} bytes`);
    }
    this.ptrs = new Uint32Array(ring, 0, 2);
    this.size = capacity + 1;
    this.storage = new Uint8Array(ring, 8, this.size);
    this.text = Buffer.from(ring, 8, this.size);
    this.control = new Int32Array(shared.control);
    this.bell = new Int32Array(shared.doorbell);
  }
}
