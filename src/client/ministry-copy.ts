// `govfs backup`: ask for a ministry's state at one applied index, copied by its minister
// (src/actors/ministry-copy.ts). Any node passes the request on to the minister.

import type { MinistryCopyMessage, MinistryCopyRequestMessage } from '../fs/requests.js';

export type MinistryCopyAnswer = Omit<MinistryCopyMessage, 'type'>;

/** Ask the nodes of `ids` in turn (the minister `first`, when known) until one answers with the
 * copy or a refusal other than EAGAIN; the last EAGAIN (or unreachable node) otherwise. */
export async function ministryCopyRequest(
  ids: readonly string[],
  ask: (node: string, msg: object) => Promise<unknown>,
  ministry: string,
  first = '',
): Promise<MinistryCopyAnswer> {
  let last: MinistryCopyAnswer = { ok: false, code: 'EUNAVAILABLE', reason: 'no node answered', index: 0, term: 0, state: new Uint8Array(0) };
  const order = first && ids.includes(first) ? [first, ...ids.filter((id) => id !== first)] : ids;
  for (const id of order) {
    try {
      const r = (await ask(id, { type: 'govfs.fs.MinistryCopyRequest', ministry } satisfies MinistryCopyRequestMessage)) as Partial<MinistryCopyMessage>;
      const answer: MinistryCopyAnswer = { ok: r.ok === true, code: r.code ?? '', reason: r.reason ?? '', index: Number(r.index ?? 0), term: Number(r.term ?? 0), state: r.state ?? new Uint8Array(0) };
      if (answer.ok || answer.code !== 'EAGAIN') return answer;
      last = answer;
    } catch (e) {
      last = { ok: false, code: 'EUNAVAILABLE', reason: `${id}: ${(e as Error).message}`, index: 0, term: 0, state: new Uint8Array(0) };
    }
  }
  return last;
}
