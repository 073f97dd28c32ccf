// `govfs demo` (src/cli/demo.ts): a small demonstration of the actor runtime, one "demo node" per
// worker thread, passing a token around a ring of nodes through the ring-buffer mailboxes,
// and counting laps in its durable storage so a restart picks up where it stopped.

import { registerBehaviour } from '../runtime/runtime.js';
import type { Context, Message } from '../runtime/types.js';
import type { PingMessage, PongMessage } from '../wire/messages.js';

type Ping = PingMessage;

export interface DemoNodeArgs {
  index: number;
  /** Address of the next node of the ring. */
  next: string;
}

const LAPS_KEY = 'demo/laps';

registerBehaviour('govfs.demo.node', (args: DemoNodeArgs) => {
  let laps = 0;
  let handled = 0;
  return {
    started(ctx: Context) {
      const saved = ctx.storage.get(LAPS_KEY);
      laps = saved ? new DataView(saved.buffer, saved.byteOffset).getUint32(0) : 0;
      ctx.clock.every(1_000, 'persist');
    },
    receive(ctx: Context, msg: Message) {
      if (msg === 'persist') {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, laps);
        ctx.storage.put(LAPS_KEY, b);
        void ctx.storage.sync();
        return;
      }
      const m = msg as Ping | PongMessage;
      if (m.type === 'govfs.runtime.Pong') {
        ctx.reply({ type: 'govfs.runtime.Ping', seq: laps, sender: handled });
        return;
      }
      handled++;
      // The token that started here has gone round once more.
      if (m.sender === args.index) laps++;
      ctx.ref(args.next).tell(m);
    },
  };
});
