// What stands at a node's root address once its storage failed (a full disk, a damaged file;
// see node-main.ts): the node's own actors are stopped, so it no longer votes, leads or
// acknowledges anything, and the president, whose probes this does not answer, reassigns its
// duties. A client that still reaches it gets EIO with the reason instead of a silent timeout.

import type { Behaviour, Message } from '../runtime/types.js';
import type { TicketStatusMessage } from '../fs/requests.js';

export function faultedNodeBehaviour(id: string, reason: string): Behaviour<Message> {
  return {
    receive(ctx, msg: Message) {
      const m = msg as { type?: unknown; path?: unknown };
      if (m?.type === 'govfs.fs.FsRequest') {
        const path = String(m.path);
        ctx.reply({ type: 'govfs.fs.FsReply', ok: false, error: { code: 'EIO', message: `node ${id} serves nothing: ${reason}`, path } });
      } else if (m?.type === 'govfs.fs.TicketStatusRequest') {
        ctx.reply({ type: 'govfs.fs.TicketStatus', status: 'unknown' } satisfies TicketStatusMessage);
      }
      // Raft messages and probes go unanswered: to the others this node is down.
    },
  };
}
