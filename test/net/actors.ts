// Small actors for the bridge tests (closures: each test spawns them on its own runtimes).

import type { Behaviour, Context, Message } from '../../src/runtime/types.js';

export interface Ping {
  [field: string]: unknown;
  type: 'govfs.runtime.Ping';
  seq: number;
  sender: number;
  payload?: Uint8Array;
}
export interface Pong {
  [field: string]: unknown;
  type: 'govfs.runtime.Pong';
  seq: number;
}

export const ping = (seq: number, sender = 0): Ping => ({ type: 'govfs.runtime.Ping', seq, sender });
export const pong = (seq: number): Pong => ({ type: 'govfs.runtime.Pong', seq });

/** Counts pings and checks each sender's sequence numbers arrive in order. An ask with a Pong
 * is answered with Ping{seq: received, sender: out-of-order arrivals}. */
export function sink(state: { received: number; outOfOrder: number } = { received: 0, outOfOrder: 0 }): Behaviour {
  const next = new Map<number, number>();
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as Ping | Pong;
      if (m.type === 'govfs.runtime.Ping') {
        const expected = next.get(m.sender) ?? 0;
        if (m.seq !== expected) state.outOfOrder++;
        next.set(m.sender, m.seq + 1);
        state.received++;
      } else {
        ctx.reply(ping(state.received, state.outOfOrder));
      }
    },
  };
}

/** Answers an ask with Pong{seq}; a plain Ping from an actor is answered by telling its sender. */
export function echo(): Behaviour {
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as Ping;
      ctx.reply(pong(m.seq));
      if (ctx.sender && m.sender === 99) ctx.sender.tell(pong(m.seq));
    },
  };
}

/** Never answers. */
export function silent(): Behaviour {
  return { receive() {} };
}

/** On Ping{seq: n} (an ask), sends n pings numbered 0..n-1 as sender `id` to `target`, 2,000
 * per turn, and answers when all are sent. */
export function blaster(target: string, id: number): Behaviour {
  let sent = 0;
  let total = 0;
  let answer: ((m: Message) => void) | null = null;
  return {
    receive(ctx: Context, msg: Message) {
      if (msg !== 'more') {
        total = (msg as Ping).seq;
        sent = 0;
        answer = ctx.deferReply();
      }
      const t = ctx.ref(target);
      const end = Math.min(total, sent + 2_000);
      for (; sent < end; sent++) t.tell(ping(sent, id));
      if (sent < total) ctx.self.tell('more');
      else answer?.(pong(sent));
    },
  };
}

/** Records what it receives. */
export function recorder(into: Message[]): Behaviour {
  return { receive: (_ctx, msg) => void into.push(msg) };
}
