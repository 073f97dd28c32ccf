// Actors for the mailbox benchmark, registered by name so they can be placed on any thread.

import { registerBehaviour } from '../src/runtime/runtime.js';
import type { Context, Message } from '../src/runtime/types.js';
import { threadCpuMs } from './thread-cpu.js';

interface Ping {
  type: 'govfs.runtime.Ping';
  seq: number;
  sender: number;
  payload?: Uint8Array;
}
interface Pong {
  type: 'govfs.runtime.Pong';
  seq: number;
}

const PAYLOAD = new Uint8Array(16).fill(7);

/** `Ping{sender: CPU_QUERY}` asks a bench actor for its thread's CPU time so far (ms). */
export const CPU_QUERY = 99;


/** Counts pings. Control messages (from the bench, never from a source): `Pong{seq: n}` arms
 * it to expect n pings (answered at once); `Pong{seq: 0}` is answered when they have all
 * arrived. */
registerBehaviour('bench.sink', () => {
  let count = 0;
  let target = Infinity;
  let answer: ((m: Message) => void) | null = null;
  const done = () => ({ type: 'govfs.runtime.Pong', seq: count });
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as Ping | Pong;
      if (m.type === 'govfs.runtime.Ping' && m.sender === CPU_QUERY) return ctx.reply({ type: 'govfs.runtime.Pong', seq: threadCpuMs() + 1 });
      if (m.type === 'govfs.runtime.Pong') {
        if (m.seq > 0) {
          count = 0;
          target = m.seq;
          ctx.reply(done());
        } else if (count >= target) {
          ctx.reply(done());
        } else {
          answer = ctx.deferReply();
        }
        return;
      }
      if (++count === target && answer) {
        answer(done());
        answer = null;
      }
    },
  };
});

/** On `Ping{seq: n}` from the bench, sends n pings to `args.target`, `perTurn` (default 10,000)
 * per turn. */
registerBehaviour('bench.source', (args: { target: string; perTurn?: number }) => {
  let left = 0;
  return {
    receive(ctx: Context, msg: Message) {
      if (msg !== 'more' && (msg as Ping).sender === CPU_QUERY) return ctx.reply({ type: 'govfs.runtime.Pong', seq: threadCpuMs() + 1 });
      if (msg !== 'more') left = (msg as Ping).seq;
      const target = ctx.ref<Ping>(args.target);
      const slice = Math.min(left, args.perTurn ?? 10_000);
      for (let i = 0; i < slice; i++) target.tell({ type: 'govfs.runtime.Ping', seq: i, sender: 1, payload: PAYLOAD });
      left -= slice;
      if (left > 0) ctx.self.tell('more');
    },
  };
});

/** Answers every ping with a pong. */
registerBehaviour('bench.echo', () => ({
  receive(ctx: Context, msg: Message) {
    ctx.reply({ type: 'govfs.runtime.Pong', seq: (msg as Ping).seq });
  },
}));

/** On `Ping{seq: n}`, asks `args.target` n times one after another and answers with the
 * round-trip times (µs) packed as float64 in `payload`. */
registerBehaviour('bench.asker', (args: { target: string }) => ({
  async receive(ctx: Context, msg: Message) {
    const n = (msg as Ping).seq;
    const answer = ctx.deferReply();
    const target = ctx.ref(args.target);
    const rtts = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await ctx.ask(target, { type: 'govfs.runtime.Ping', seq: i, sender: 2, payload: PAYLOAD }, { timeoutMs: 5_000 });
      rtts[i] = (performance.now() - t0) * 1000;
    }
    answer({ type: 'govfs.runtime.Ping', seq: n, sender: 0, payload: new Uint8Array(rtts.buffer) });
  },
}));
