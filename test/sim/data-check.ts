// The data sim's writes as its checks see them, and the check of acknowledgement order against
// fencing tokens (kept apart from data.sim.ts so that its unit test loads no cluster).

export interface Write {
  value: number;
  file: string;
  offset: number;
  length: number;
  start: number;
  /** Acknowledged at (Infinity: failed or not answered). */
  acked: number;
  /** The lease's fencing token. */
  token: number;
}

/** Acknowledged writes of overlapping bytes acknowledged in the opposite order of their
 * tokens: the older token's writer was a stale writer by then (overlapping write leases never
 * hold at once, and the newer one is granted only after the older one ended), so its write
 * must not have been acknowledged (issue 17: data sim seed 332). */
export function staleAcks(writes: readonly Write[]): string[] {
  const out: string[] = [];
  const acked = writes.filter((w) => w.acked < Infinity);
  for (const a of acked) {
    for (const b of acked) {
      if (a.file !== b.file || a.token >= b.token || a.acked <= b.acked) continue;
      if (a.offset < b.offset + b.length && b.offset < a.offset + a.length) {
        out.push(`write ${a.value} (lease token ${a.token}) acknowledged at ${a.acked.toFixed(1)}, after write ${b.value} (token ${b.token}) over the same bytes of ${a.file} at ${b.acked.toFixed(1)}: a stale writer's write acknowledged`);
      }
    }
  }
  return out;
}
