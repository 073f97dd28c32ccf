import { Worker } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MessageRegistry, type WireEnvelope } from '../../src/wire/registry.js';
import { EncodeError } from '../../src/runtime/errors.js';
import {
  BELL_BATCH_FRAMES,
  FRAME_HEADER_BYTES,
  RingInbox,
  RingSender,
  createDoorbell,
  createRingChannel,
  createRingMesh,
  type RingChannelShared,
  type RingInboxStats,
  type RingSenderStats,
} from '../../src/runtime/ring-channel.js';
import { type PingMsg, payloadFor, ping, startFixture } from './fixtures/ring-messages.js';

const registry = MessageRegistry.standard();

// ---------------------------------------------------------------------------------------------
// Worker plumbing: every message a worker posts is kept, and tests wait for the one they need,
// with a deadline (never a sleep).

interface Posted {
  kind: string;
  [k: string]: unknown;
}

class Fixture {
  readonly worker: Worker;
  private readonly seen: Posted[] = [];
  private readonly waiters = new Set<() => void>();
  private failure: Error | undefined;

  constructor(name: 'ring-producer' | 'ring-consumer', data: unknown) {
    this.worker = startFixture(name, { workerData: data });
    live.add(this.worker);
    this.worker.on('message', (m: Posted) => {
      this.seen.push(m);
      this.wake();
    });
    this.worker.on('error', (e) => {
      this.failure = e;
      this.wake();
    });
    this.worker.on('exit', (code) => {
      live.delete(this.worker);
      if (code !== 0) this.failure ??= new Error(`${name} exited with code ${code}`);
      this.wake();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  post(m: unknown): void {
    this.worker.postMessage(m);
  }

  /** The first posted message of `kind` (matching `pred`), waiting up to `ms`. */
  next<T extends Posted>(kind: string, ms = 20_000, pred: (m: T) => boolean = () => true): Promise<T> {
    const find = (): T | undefined => {
      const i = this.seen.findIndex((m) => m.kind === kind && pred(m as T));
      return i < 0 ? undefined : (this.seen.splice(i, 1)[0] as T);
    };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no '${kind}' message within ${ms} ms`));
      }, ms);
      const check = (): void => {
        const m = find();
        if (m) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(m);
        } else if (this.failure) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(this.failure);
        }
      };
      this.waiters.add(check);
      check();
    });
  }
}

const live = new Set<Worker>();
afterAll(async () => {
  await Promise.all([...live].map((w) => w.terminate()));
});

const inboxes: RingInbox[] = [];
afterEach(() => {
  for (const i of inboxes.splice(0)) i.close();
});

/** Wait for a condition on this thread, checking every few ms, up to a deadline. */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Done extends Posted {
  received: number[];
  errors: string[];
  stats: RingInboxStats;
}

interface ProducerDone extends Posted {
  stats: RingSenderStats;
}

function pingEnv(seq: number, payload = payloadFor(seq, 'fixed')): WireEnvelope {
  return ping(seq, 1, payload);
}

function writeIndex(ch: RingChannelShared): number {
  return Atomics.load(new Uint32Array(ch.ring, 0, 1), 0);
}

// ---------------------------------------------------------------------------------------------

describe('ring channel, on one thread', () => {
  it('refuses an unencodable message at the sender with EncodeError, and sends nothing', () => {
    const ch = createRingChannel({ capacity: 1024 });
    const sender = new RingSender(MessageRegistry.standard({ verify: true }), ch);
    const base = pingEnv(0);
    expect(() => sender.send({ ...base, msg: { type: 'nope.Nope' } })).toThrow(EncodeError);
    expect(() => sender.send({ ...base, msg: 42 as never })).toThrow(EncodeError);
    expect(() => sender.send({ ...base, msg: { type: 'govfs.runtime.Ping', seq: 'x' } })).toThrow(/does not encode/);
    expect(writeIndex(ch)).toBe(0);
    expect(sender.stats.sent).toBe(0);
    expect(sender.queued).toBe(0);
  });

  it('refuses a frame larger than the ring, naming the sizes', () => {
    const ch = createRingChannel({ capacity: 64, label: 'a->b' });
    const sender = new RingSender(registry, ch);
    const env = pingEnv(0, new Uint8Array(100));
    const err = (() => {
      try {
        sender.send(env);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(EncodeError);
    const len = registry.toBytes(env).length;
    expect(err!.message).toContain(`encodes to ${len} bytes`);
    expect(err!.message).toContain(`(${len + FRAME_HEADER_BYTES} bytes)`);
    expect(err!.message).toContain('ring a->b (64 bytes)');
    expect(writeIndex(ch)).toBe(0);
    expect(sender.stats.sent).toBe(0);
  });

  it('still sends after a refused message (the reused writer is clean)', async () => {
    const ch = createRingChannel({ capacity: 256 });
    const sender = new RingSender(registry, ch);
    const got: WireEnvelope[] = [];
    inboxes.push(new RingInbox(registry, ch, { onEnvelope: (env) => got.push(env) }));
    expect(() => sender.send({ ...pingEnv(0), msg: { type: 'nope.Nope' } })).toThrow(EncodeError);
    expect(() => sender.send(pingEnv(0, new Uint8Array(300)))).toThrow(EncodeError);
    sender.send(pingEnv(7));
    await until(() => got.length === 1, 'the message');
    expect(got[0]).toEqual(pingEnv(7));
  });

  it('decodes frames whose header or body wraps around the ring end', async () => {
    const ch = createRingChannel({ capacity: 97 }); // 98 slots: frames start at every offset
    const sender = new RingSender(registry, ch);
    const size = ch.capacity + 1;
    let received = 0;
    let arrived: (() => void) | undefined;
    const errors: string[] = [];
    inboxes.push(
      new RingInbox(registry, ch, {
        onEnvelope(env) {
          const m = env.msg as PingMsg;
          if (m.seq !== received) errors.push(`seq ${m.seq}, want ${received}`);
          const want = payloadFor(m.seq, 'vary').subarray(0, m.seq % 37);
          if (!(m.payload instanceof Uint8Array) || m.payload.join() !== want.join()) errors.push(`seq ${m.seq}: payload differs`);
          received++;
          arrived?.();
        },
      }),
    );
    const headerSplits = new Set<number>();
    let bodyWraps = 0;
    for (let seq = 0; seq < 400; seq++) {
      // vary the frame size, so that frames start at every offset of the ring
      const payload = payloadFor(seq, 'vary').subarray(0, seq % 37);
      const env = ping(seq, 1, payload);
      const len = registry.toBytes(env).length;
      const wr = writeIndex(ch);
      if (wr + FRAME_HEADER_BYTES > size) headerSplits.add(size - wr);
      else if (wr + FRAME_HEADER_BYTES + len > size) bodyWraps++;
      const got = new Promise<void>((resolve) => (arrived = resolve));
      sender.send(env);
      await got;
    }
    expect(errors).toEqual([]);
    expect([...headerSplits].sort()).toEqual([1, 2, 3]);
    expect(bodyWraps).toBeGreaterThan(0);
    expect(sender.stats.wrappedFrames).toBeGreaterThan(0);
  });

  it('reports a corrupt ring and an undecodable frame without stopping the other rings', async () => {
    const doorbell = createDoorbell();
    const broken = createRingChannel({ capacity: 256, doorbell, label: 'broken' });
    const skippy = createRingChannel({ capacity: 256, doorbell, label: 'skippy' });
    const healthy = createRingChannel({ capacity: 256, doorbell, label: 'healthy' });
    // A header announcing 1000 bytes when 4 are published: the framing is lost.
    new RingBuffer(broken.ring, Uint8Array).push(new Uint8Array([0xe8, 0x03, 0, 0, 1, 2, 3, 4]));
    // A well-framed frame of garbage, followed by a good message.
    new RingBuffer(skippy.ring, Uint8Array).push(new Uint8Array([3, 0, 0, 0, 0xff, 0xff, 0xff]));
    new RingSender(registry, skippy).send(pingEnv(1));
    const got: [number, number][] = [];
    const errors: { code: unknown; message: string; ring: number }[] = [];
    const inbox = new RingInbox(registry, [broken, skippy, healthy], {
      onEnvelope: (env, ring) => got.push([ring, (env.msg as PingMsg).seq]),
      onError: (err, ring) => errors.push({ code: (err as { code?: unknown }).code, message: err.message, ring }),
    });
    inboxes.push(inbox);
    const hs = new RingSender(registry, healthy);
    hs.send(pingEnv(2));
    await until(() => got.length === 2, 'the good messages');
    hs.send(pingEnv(3));
    await until(() => got.length === 3, 'a message after the errors');
    expect(got).toEqual([[1, 1], [2, 2], [2, 3]]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ code: 'EBADMSG', ring: 0 });
    expect(errors[0]!.message).toMatch(/ring broken is corrupt at offset 0: frame of 1000 bytes but only 4 published/);
    expect(errors[1]).toMatchObject({ code: 'EBADMSG', ring: 1 });
    expect(errors[1]!.message).toMatch(/ring skippy: skipped an undecodable frame of 3 bytes/);
    expect(inbox.stats).toMatchObject({ corruptRings: 1, decodeErrors: 1, received: 3 });
  });

  it('a closed sender drops its backlog, releases waiters and refuses to send', async () => {
    const ch = createRingChannel({ capacity: 256 });
    const sender = new RingSender(registry, ch);
    for (let seq = 0; seq < 20; seq++) sender.send(pingEnv(seq));
    expect(sender.queued).toBeGreaterThan(0);
    const flushed = sender.whenFlushed();
    const queued = sender.queued;
    expect(sender.close()).toBe(queued);
    await flushed;
    expect(sender.queued).toBe(0);
    expect(() => sender.send(pingEnv(99))).toThrow(/ring ring is closed/);
  });

  it('refuses to mix rings of different doorbells in one inbox', () => {
    const a = createRingChannel({ capacity: 64 });
    const b = createRingChannel({ capacity: 64 });
    expect(() => new RingInbox(registry, [a, b], { onEnvelope: () => {}, keepAlive: false })).toThrow(/same doorbell/);
  });

  it('builds a mesh: one ring per ordered pair, one doorbell per consuming thread', () => {
    const mesh = createRingMesh(3, { capacity: 128 });
    const t1 = mesh.forThread(1);
    expect(t1.outgoing[1]).toBeNull();
    expect(t1.incoming[1]).toBeNull();
    expect(t1.outgoing[2]).toBe(mesh.rings[1]![2]);
    expect(t1.incoming[0]).toBe(mesh.rings[0]![1]);
    expect(t1.incoming[0]!.doorbell).toBe(t1.doorbell);
    expect(t1.incoming[2]!.doorbell).toBe(t1.doorbell);
    expect(t1.outgoing[2]!.doorbell).toBe(mesh.forThread(2).doorbell);
    expect(t1.incoming[2]!.label).toBe('t2->t1');
    expect(structuredClone(t1).incoming[0]!.ring).toBeInstanceOf(SharedArrayBuffer);
  });

  it("rings a parked consumer at the frame that found the ring empty when its bell is 'at-once' (a worker's)", async () => {
    const ch = createRingChannel({ capacity: 64 * 1024, label: 'at-once->inbox' });
    const sender = new RingSender(registry, ch, null, 'at-once');
    const inbox = new RingInbox(registry, ch, { onEnvelope: () => {} });
    inboxes.push(inbox);
    await until(() => inbox.stats.parks === 1, 'the inbox to park');
    sender.send(pingEnv(0));
    expect(sender.stats).toMatchObject({ doorbellRings: 1, doorbellNotifies: 1 });
    await until(() => inbox.stats.parks === 2, 'the inbox to park again');
  });

  it('rings a parked consumer once per turn, at its end, so that it wakes to the whole turn', async () => {
    const ch = createRingChannel({ capacity: 64 * 1024, label: 'turn->inbox' });
    const sender = new RingSender(registry, ch, null, 'end-of-turn');
    const seqs: number[] = [];
    const inbox = new RingInbox(registry, ch, { onEnvelope: (env) => seqs.push((env.msg as PingMsg).seq) });
    inboxes.push(inbox);
    await until(() => inbox.stats.parks === 1, 'the inbox to park');
    const turn = BELL_BATCH_FRAMES - 1;
    for (let i = 0; i < turn; i++) sender.send(pingEnv(i));
    // The first frame found the ring empty, but a notify then would wake the consumer (on
    // another thread) to that frame alone: the bell is rung when this turn's code is done.
    expect(sender.stats).toMatchObject({ sent: turn, doorbellRings: 1, doorbellNotifies: 0 });
    await Promise.resolve();
    expect(sender.stats.doorbellNotifies).toBe(1);
    await until(() => seqs.length === turn, "the turn's frames");
    expect(seqs.every((s, i) => s === i)).toBe(true);
    expect(inbox.stats).toMatchObject({ wakeups: 1, batches: 1 });

    // A long turn rings after BELL_BATCH_FRAMES frames, without waiting for its end.
    await until(() => inbox.stats.parks === 2, 'the inbox to park again');
    for (let i = 0; i < BELL_BATCH_FRAMES; i++) sender.send(pingEnv(turn + i));
    expect(sender.stats).toMatchObject({ doorbellRings: 2, doorbellNotifies: 2 });
    await until(() => seqs.length === turn + BELL_BATCH_FRAMES, 'the long turn');
    expect(seqs.every((s, i) => s === i)).toBe(true);
  });
});

describe('ring channel, across worker threads', () => {
  it('keeps per-sender FIFO order from 3 producer threads into one consumer thread', async () => {
    const senders = [11, 22, 33];
    const count = 60_000;
    const doorbell = createDoorbell();
    const rings = senders.map((s) => createRingChannel({ capacity: 16 * 1024, doorbell, label: `p${s}->c` }));
    const consumer = new Fixture('ring-consumer', { rings, senders, expect: senders.map(() => count), payload: 'fixed' });
    await consumer.next('ready');
    const producers = senders.map(
      (sender, i) => new Fixture('ring-producer', { ring: rings[i], sender, count, mode: 'paced', payload: 'fixed' }),
    );
    const done = await consumer.next<Done>('done', 30_000);
    expect(done.errors).toEqual([]);
    expect(done.received).toEqual([count, count, count]);
    expect(done.stats.received).toBe(3 * count);
    for (const p of producers) expect((await p.next<ProducerDone>('done')).stats.sent).toBe(count);
  });

  it('carries 1,000,000 messages through a 4 KiB ring, complete and in order, without spinning', async () => {
    const count = 1_000_000;
    const ring = createRingChannel({ capacity: 4096, label: 'p->c' });
    const consumer = new Fixture('ring-consumer', { rings: [ring], senders: [5], expect: [count], payload: 'none' });
    await consumer.next('ready');
    const producer = new Fixture('ring-producer', { ring, sender: 5, count, mode: 'paced', payload: 'fixed' });
    const done = await consumer.next<Done>('done', 60_000);
    const sent = (await producer.next<ProducerDone>('done')).stats;
    expect(done.errors).toEqual([]);
    expect(done.received).toEqual([count]);
    expect(done.stats.received).toBe(count);
    expect(sent.sent).toBe(count);
    expect(sent.spaceWaits).toBeGreaterThan(0); // the small ring really did fill up
    // Parked consumers are woken per empty→non-empty transition, not per message.
    expect(done.stats.wakeups).toBeLessThan(count / 2);
    expect(sent.doorbellNotifies).toBeLessThanOrEqual(sent.doorbellRings);
    console.info('1M through 4 KiB:', { consumer: done.stats, producer: sent });
  });

  it('decodes wrapping frames across threads, payload bytes checked', async () => {
    const count = 10_000;
    const ring = createRingChannel({ capacity: 257, label: 'p->c' });
    const consumer = new Fixture('ring-consumer', { rings: [ring], senders: [3], expect: [count], payload: 'vary' });
    await consumer.next('ready');
    const producer = new Fixture('ring-producer', { ring, sender: 3, count, mode: 'paced', payload: 'vary' });
    const done = await consumer.next<Done>('done');
    expect(done.errors).toEqual([]);
    expect(done.received).toEqual([count]);
    expect(done.stats.wrappedFrames).toBeGreaterThan(100);
    expect((await producer.next<ProducerDone>('done')).stats.wrappedFrames).toBe(done.stats.wrappedFrames);
  });

  it('queues on a full ring while the producer event loop stays responsive, then delivers in order', async () => {
    const count = 20_000;
    const ring = createRingChannel({ capacity: 4096, label: 'p->c' });
    // No consumer yet: the ring fills and the rest queues at the sender.
    const producer = new Fixture('ring-producer', { ring, sender: 9, count, mode: 'burst', payload: 'fixed' });
    const burst = await producer.next<Posted & { queued: number }>('burst');
    expect(burst.queued).toBeGreaterThan(count / 2);
    // The producer's timers and messages still run while it is backlogged.
    const timer = await producer.next<Posted & { queued: number }>('timer');
    expect(timer.queued).toBe(burst.queued);
    producer.post({ ping: true });
    expect((await producer.next<Posted & { queued: number }>('pong')).queued).toBe(burst.queued);
    // Now a consumer: everything arrives, in order, and the backlog drains.
    const consumer = new Fixture('ring-consumer', { rings: [ring], senders: [9], expect: [count], payload: 'fixed' });
    const done = await consumer.next<Done>('done');
    expect(done.errors).toEqual([]);
    expect(done.received).toEqual([count]);
    const flushed = await producer.next<ProducerDone>('flushed');
    expect(flushed.stats).toMatchObject({ sent: count, queuedMax: burst.queued });
    expect(flushed.stats.spaceWakeups).toBeGreaterThan(0);
  });

  it('parks the consumer and wakes it by the doorbell; an idle consumer does no work', async () => {
    const ring = createRingChannel({ capacity: 64 * 1024, label: 'p->main' });
    const seqs: number[] = [];
    const inbox = new RingInbox(registry, ring, {
      onEnvelope: (env) => seqs.push((env.msg as PingMsg).seq),
    });
    inboxes.push(inbox);
    const producer = new Fixture('ring-producer', { ring, sender: 1, count: 0, mode: 'on-demand', payload: 'fixed' });
    await producer.next('ready');
    await until(() => inbox.stats.parks === 1, 'the inbox to park');
    expect(inbox.stats).toMatchObject({ received: 0, wakeups: 0 });

    producer.post({ send: 1 });
    await until(() => seqs.length === 1, 'one message');
    await until(() => inbox.stats.parks === 2, 'the inbox to park again');
    expect(inbox.stats.wakeups).toBe(1);

    // Idle: while the producer does a round trip, the parked inbox runs no drain pass at all.
    const idle = { ...inbox.stats };
    producer.post({ ping: true });
    await producer.next('pong');
    expect(inbox.stats).toEqual(idle);

    // Under load, every wake-up answers a doorbell notification (nothing polls), and batching
    // keeps them below the message count (how far below depends on the machine's load).
    const burst = 200_000;
    producer.post({ send: burst });
    await until(() => seqs.length === burst + 1, 'the burst', 30_000);
    const sent = (await producer.next<Posted & { stats: RingSenderStats }>('sent', 30_000, (m) => m.next === burst + 1)).stats;
    expect(seqs.every((s, i) => s === i)).toBe(true);
    expect(inbox.stats.wakeups).toBeLessThan(burst / 2);
    expect(inbox.stats.wakeups).toBeLessThanOrEqual(sent.doorbellNotifies);
    producer.post({ exit: true });
    console.info('wake-ups under load:', { inbox: inbox.stats, producer: sent });
  });
});
