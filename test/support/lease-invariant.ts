// The lease safety invariant (issue 5): at no instant of true (simulator) time do two valid
// leases held by different clients conflict. A lease is valid for as long as its holder
// believes it is: not revoked, released or lost, and not past its expiry on the holder's own
// (possibly drifting) clock.

import type { Cluster } from '../../src/cluster.js';
import type { GovClient, LeaseHandle } from '../../src/client/gov-client.js';

interface Holder {
  client: GovClient;
  now: () => number;
}

export class LeaseInvariant {
  private readonly holders: Holder[] = [];
  violations: string[] = [];
  checks = 0;
  /** The last check found no conflict. */
  private clear = false;
  /** The simulated hosts that are not cluster nodes (clients' hosts: every message to a
   * client goes to one), for the host count they were listed at. */
  private clientHosts: string[] = [];
  private listedAt = -1;

  constructor(private readonly cluster: Cluster) {
    cluster.sim!.checks.push(() => this.check());
  }

  /** Watch a client's handles; `host` is the simulated host the client runs on. */
  watch(client: GovClient, host: string): void {
    const h = this.cluster.sim!.host(host);
    this.holders.push({ client, now: () => h.runtime.dispatcher.now() });
  }

  private check(): void {
    this.checks++;
    // A handle becomes valid, is renewed or ends only by its client's code: in a turn of a
    // client host's actor or timer, or in a promise continuation (which touches every host);
    // time passing alone only ends leases. So with no client host touched, a check that found
    // no conflict finds none again.
    if (this.clear && !this.clientTouched()) return;
    const live: { client: string; h: LeaseHandle; now: number }[] = [];
    for (const holder of this.holders) {
      const now = holder.now();
      for (const h of holder.client.openHandles) if (h.valid(now)) live.push({ client: holder.client.clientId, h, now });
    }
    let conflict = false;
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length; j++) {
        const a = live[i]!;
        const b = live[j]!;
        if (a.client === b.client || a.h.lease.path !== b.h.lease.path) continue;
        if (a.h.lease.mode === 'read' && b.h.lease.mode === 'read') continue;
        const [as, ae] = a.h.lease.range;
        const [bs, be] = b.h.lease.range;
        if (as < be && bs < ae) {
          const left = (x: { h: LeaseHandle; now: number }) => `${x.h.lease.id}, ${(x.h.lease.expiresAt - x.now).toFixed(1)} ms left`;
          const msg = `t=${this.cluster.now().toFixed(1)}: ${a.client} ${a.h.lease.mode} [${as},${ae}) (${left(a)}) and ${b.client} ${b.h.lease.mode} [${bs},${be}) (${left(b)}) on ${a.h.lease.path} both valid`;
          if (this.violations.length < 10) this.violations.push(msg);
          conflict = true;
        }
      }
    }
    this.clear = !conflict;
  }

  private clientTouched(): boolean {
    const sim = this.cluster.sim!;
    if (this.listedAt !== sim.hostCount) {
      this.listedAt = sim.hostCount;
      this.clientHosts = sim.hostNames.filter((h) => !this.cluster.nodeIds.includes(h));
    }
    return this.clientHosts.some((h) => sim.touched(h));
  }
}
