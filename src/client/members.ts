// `govfs node add|remove` and `cluster.addNode()` / `removeNode()`: a MemberRequest to any node,
// which passes it on to the president (src/actors/membership-core.ts decides what it may do).

import type { MemberReplyMessage, MemberRequestMessage } from '../fs/requests.js';

export type MemberAnswer = Omit<MemberReplyMessage, 'type'>;

/** Ask the nodes of `ids` in turn until one answers for the president; an EAGAIN (no
 * president right now) or a node that does not answer goes on to the next. */
export async function memberRequest(
  ids: readonly string[],
  ask: (node: string, msg: object) => Promise<unknown>,
  req: Omit<MemberRequestMessage, 'type'>,
): Promise<MemberAnswer> {
  let last: MemberAnswer = { ok: false, code: 'EUNAVAILABLE', reason: 'no node answered', index: 0 };
  for (const id of ids) {
    try {
      const r = (await ask(id, { type: 'govfs.fs.MemberRequest', ...req } satisfies MemberRequestMessage)) as Partial<MemberReplyMessage>;
      const answer: MemberAnswer = { ok: r.ok === true, code: r.code ?? '', reason: r.reason ?? '', index: Number(r.index ?? 0) };
      if (answer.ok || answer.code !== 'EAGAIN') return answer;
      last = answer;
    } catch (e) {
      last = { ok: false, code: 'EUNAVAILABLE', reason: `${id}: ${(e as Error).message}`, index: 0 };
    }
  }
  return last;
}
