// `govfs backup` (issue 20): the minister copies its ministry's replicated state itself, at one
// applied index of the group log, so that a ministry busy with writes is backed up rather than
// refused. (The client-side copy, two passes of linearizable reads compared, never holds still
// on a ministry that is written to all the time: src/ops/backup.ts.)
//
// The minister first confirms it still leads (a ReadIndex: it has then applied every change
// acknowledged before the request), then takes the state at its applied index as a Raft
// snapshot is taken: built from the last snapshot and the entries since by the state machine's
// replay task in ctx.pool, off the actor thread, which goes on serving meanwhile
// (RaftShell.copyState). The reply holds the ministry snapshot's bytes (namespace, leases,
// layouts), its index and the minister's term.

import type { Context } from '../runtime/types.js';
import type { RaftShell } from '../raft/shell.js';
import type { MinistryCopyMessage } from '../fs/requests.js';

/** A copy built off the thread came back (piped to the ministry actor itself). */
export interface MinistryCopied {
  type: 'ministry.copied';
  id: number;
  index: number;
  term: number;
  state?: Uint8Array;
  error?: string;
}

type Answer = (msg: MinistryCopyMessage) => void;

const refusal = (code: string, reason: string): MinistryCopyMessage => ({ type: 'govfs.fs.MinistryCopy', ok: false, code, reason, index: 0, term: 0, state: new Uint8Array(0) });

/** The minister's side of a MinistryCopyRequest, for one ministry role. */
export function ministryCopier(raft: () => RaftShell, who: { node: string; role: 'minister' | 'clerk'; ministry: () => string }): {
  request(ctx: Context): void;
  copied(msg: MinistryCopied): void;
} {
  const waiting = new Map<number, Answer>();
  let seq = 0;
  return {
    request(ctx) {
      const answer: Answer = ctx.deferReply();
      const ministry = who.ministry();
      const r = raft();
      if (who.role !== 'minister' || r.softState().role !== 'leader') return answer(refusal('EAGAIN', `${who.node} is not the minister of ${ministry} now: ask again (govfs status shows the minister)`));
      r.readIndex((ok) => {
        if (!ok) return answer(refusal('EAGAIN', `${who.node} could not confirm it still leads ${ministry}: ask again`));
        const term = r.softState().term;
        const { index, state } = r.copyState();
        if (!(state instanceof Promise)) return answer({ type: 'govfs.fs.MinistryCopy', ok: true, code: '', reason: '', index, term, state });
        const id = ++seq;
        waiting.set(id, answer);
        ctx.pipeToSelf(
          state,
          (data): MinistryCopied => ({ type: 'ministry.copied', id, index, term, state: data }),
          (e): MinistryCopied => ({ type: 'ministry.copied', id, index, term, error: String((e as Error)?.message ?? e) }),
        );
      });
    },
    copied(msg) {
      const answer = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (!answer) return;
      if (msg.state === undefined) return answer(refusal('EIO', `the copy of ${who.ministry()} at index ${msg.index} failed off the thread: ${msg.error ?? 'unknown'}`));
      answer({ type: 'govfs.fs.MinistryCopy', ok: true, code: '', reason: '', index: msg.index, term: msg.term, state: msg.state });
    },
  };
}
