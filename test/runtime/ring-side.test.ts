// Large payloads beside a ring (src/runtime/ring-side.ts): on one thread, sender and inbox on
// the two ends of one ring and its side channel.

import { afterEach, describe, expect, it } from 'vitest';
import { EncodeError } from '../../src/runtime/errors.js';
import { RingInbox, RingSender, createRingChannel, createSideChannel, handOver } from '../../src/runtime/ring-channel.js';
import { EnvelopeKind, MessageRegistry, type WireEnvelope } from '../../src/wire/registry.js';
import { pattern, sha } from './fixtures/big-actors.js';

const registry = MessageRegistry.standard();
const inboxes: RingInbox[] = [];
afterEach(() => {
  for (const i of inboxes.splice(0)) i.close();
});

function write(offset: number, data: Uint8Array): WireEnvelope {
  return { to: 't1#/sink', from: 't0#/src', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.data.ChunkWrite', chunkId: `c${offset}`, version: 1, token: 2, offset, data } };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pairWithSide(capacity: number): { sender: RingSender; got: WireEnvelope[]; inbox: RingInbox } {
  const ch = createRingChannel({ capacity });
  const side = createSideChannel();
  const sender = new RingSender(registry, ch, side.producer);
  const got: WireEnvelope[] = [];
  const inbox = new RingInbox(registry, ch, { sides: [side.consumer], onEnvelope: (env) => got.push(env) });
  inboxes.push(inbox);
  return { sender, got, inbox };
}

describe('ring side channel', () => {
  it('carries 4 MiB through a 64 KiB ring, in order with small messages, copying the payload once', async () => {
    const { sender, got, inbox } = pairWithSide(64 * 1024);
    const big = pattern(4 * 1024 * 1024, 3);
    const want = sha(big);
    sender.send(write(0, new Uint8Array([1, 2, 3])));
    sender.send(write(1, big));
    sender.send(write(2, pattern(1000, 4)));
    sender.send(write(3, big.subarray(5, 5 + 300_000)));
    await until(() => got.length === 4, 'four messages');
    expect(got.map((e) => e.msg.offset)).toEqual([0, 1, 2, 3]);
    expect(Array.from(got[0]!.msg.data as Uint8Array)).toEqual([1, 2, 3]);
    expect(sha(got[1]!.msg.data as Uint8Array)).toBe(want);
    expect(sha(got[2]!.msg.data as Uint8Array)).toBe(sha(pattern(1000, 4)));
    expect(sha(got[3]!.msg.data as Uint8Array)).toBe(sha(big.subarray(5, 5 + 300_000)));
    expect(got[1]!.msg).toMatchObject({ chunkId: 'c1', version: 1, token: 2 });
    // The sender's bytes are untouched, the ring carried only small frames.
    expect(sha(big)).toBe(want);
    expect(sender.stats.side).toEqual({ moved: 0, copied: 2, movedBytes: 0, copiedBytes: 4 * 1024 * 1024 + 300_000 });
    expect(sender.stats.bytes).toBeLessThan(4096);
    expect(inbox.stats.sideFrames).toBe(2);
  });

  it('moves a handed-over buffer without copying it (the sender\'s view empties)', async () => {
    const { sender, got } = pairWithSide(4096);
    const big = handOver(pattern(2 * 1024 * 1024, 5));
    const want = sha(big);
    sender.send(write(0, big));
    expect(big.byteLength).toBe(0); // moved to the other end of the port
    await until(() => got.length === 1, 'the message');
    expect(sha(got[0]!.msg.data as Uint8Array)).toBe(want);
    expect(sender.stats.side).toMatchObject({ moved: 1, copied: 0 });
  });

  it('copies a handed-over view of less than half its buffer instead of moving the whole buffer', async () => {
    const { sender, got } = pairWithSide(4096);
    const whole = handOver(pattern(1024 * 1024, 6));
    const part = whole.subarray(0, 100_000);
    sender.send(write(0, part));
    expect(whole.byteLength).toBe(1024 * 1024);
    await until(() => got.length === 1, 'the message');
    expect(sha(got[0]!.msg.data as Uint8Array)).toBe(sha(whole.subarray(0, 100_000)));
    expect(sender.stats.side).toMatchObject({ moved: 0, copied: 1 });
  });

  it('puts several large and small bytes fields of one message back in their places', async () => {
    const { sender, got } = pairWithSide(4096);
    const proof = pattern(100_000, 7);
    const clientKey = pattern(32, 8);
    const clientSignature = pattern(200_000, 9);
    sender.send({ to: 't1#/x', from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.bridge.Auth', proof, clientLocation: 'here', clientKey, clientSignature } });
    await until(() => got.length === 1, 'the message');
    const m = got[0]!.msg;
    expect(sha(m.proof as Uint8Array)).toBe(sha(proof));
    expect(sha(m.clientKey as Uint8Array)).toBe(sha(clientKey));
    expect(sha(m.clientSignature as Uint8Array)).toBe(sha(clientSignature));
    expect(m.clientLocation).toBe('here');
  });

  it('without a side channel a ring refuses what does not fit it, as before', () => {
    const ch = createRingChannel({ capacity: 64 * 1024 });
    const sender = new RingSender(registry, ch);
    expect(() => sender.send(write(0, new Uint8Array(100_000)))).toThrow(EncodeError);
  });
});
