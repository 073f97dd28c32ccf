// The nemesis's lease workload and its witness. Lease clients take write leases on one file per
// ministry, "use" each a few times while they hold it (each use is recorded only while the
// handle says it is valid on this process's clock, which every client shares), then release it.
// The witness then judges, per file:
//   - no two holders at once: the spans from the first to the last use of two different
//     leases never overlap;
//   - fencing tokens grow: a lease whose open was called after another lease's last use has a
//     higher token (work done under the older token could be refused).

import { connect, type RemoteGovClient } from '../../src/index.js';
import type { Anomaly } from './check.js';
import type { History, Rng } from './history.js';

export interface LeaseHold {
  client: string;
  path: string;
  leaseId: string;
  token: number;
  grantedBy: string;
  /** Monotonic ms since the run began. */
  openCall: number;
  granted: number;
  /** When each use happened (the handle valid then). */
  uses: number[];
  released?: number;
  /** How it ended: released, or lost/expired/revoked first. */
  end?: string;
}

export interface LeaseWorkload {
  holds: LeaseHold[];
  opens: { ok: number; failed: number };
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startLeaseWorkload(history: History, servers: string[], files: readonly string[], clients: number, rng: Rng): Promise<LeaseWorkload> {
  let running = true;
  const holds: LeaseHold[] = [];
  const opens = { ok: 0, failed: 0 };
  const conns: RemoteGovClient[] = [];
  for (let i = 0; i < clients; i++) conns.push(await connect(servers, { deadlineMs: 8_000, requestTimeoutMs: 1_500, connectTimeoutMs: 1_500 }));
  const loops = conns.map(async (fs, i) => {
    const r = rng.fork();
    const client = `L${i}`;
    while (running) {
      const path = r.pick(files);
      const openCall = history.now();
      let h;
      try {
        h = await fs.open(path, { mode: 'write', wait: true, deadlineMs: 3_000 });
        opens.ok++;
      } catch {
        opens.failed++;
        await sleep(r.int(50, 300));
        continue;
      }
      const hold: LeaseHold = { client, path, leaseId: h.lease.id, token: h.lease.token, grantedBy: h.lease.grantedBy, openCall, granted: history.now(), uses: [] };
      holds.push(hold);
      h.addEventListener('end', () => (hold.end ??= String((h.signal.reason as Error | undefined)?.message ?? 'ended')));
      const n = r.int(1, 5);
      for (let k = 0; k < n && running; k++) {
        if (!h.valid(Date.now())) break;
        hold.uses.push(history.now());
        await sleep(r.int(10, 150));
      }
      hold.released = history.now();
      await h.release().catch(() => {});
      await sleep(r.int(0, 100));
    }
  });
  return {
    holds,
    opens,
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(conns.map((c) => c.close().catch(() => {})));
    },
  };
}

/** The witness's judgement (see the header). */
export function checkLeases(holds: readonly LeaseHold[]): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const byPath = new Map<string, LeaseHold[]>();
  for (const h of holds) if (h.uses.length > 0) (byPath.get(h.path) ?? byPath.set(h.path, []).get(h.path)!).push(h);
  for (const [path, hs] of byPath) {
    hs.sort((a, b) => a.uses[0]! - b.uses[0]!);
    for (let i = 0; i < hs.length; i++) {
      const a = hs[i]!;
      const aEnd = a.uses[a.uses.length - 1]!;
      for (let j = i + 1; j < hs.length; j++) {
        const b = hs[j]!;
        if (b.leaseId === a.leaseId) continue;
        if (b.uses[0]! <= aEnd) {
          anomalies.push({ kind: 'lease-conflict', detail: `${path}: ${a.client} (lease ${a.leaseId}, token ${a.token}, from ${a.grantedBy}) used it ${a.uses[0]!.toFixed(0)}..${aEnd.toFixed(0)} ms while ${b.client} (lease ${b.leaseId}, token ${b.token}, from ${b.grantedBy}) used it from ${b.uses[0]!.toFixed(0)} ms` });
        }
        if (b.openCall > aEnd && b.token <= a.token) {
          anomalies.push({ kind: 'lease-token', detail: `${path}: ${b.client}'s lease ${b.leaseId} (opened at ${b.openCall.toFixed(0)} ms, after ${a.client}'s last use under token ${a.token}) has token ${b.token}, not higher` });
        }
      }
    }
  }
  return anomalies;
}
