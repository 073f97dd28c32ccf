// The simulator's modeled CPU (SimOptions.cpu, SimOptions.machines): what a message costs the
// host it reaches, and hosts that share a machine's cores. Cut out of sim.ts.

import type { MachineBusy } from './types.js';

export interface SimCpuOptions {
  serviceMs: Record<string, number>;
}

/** Hosts that share `cores` (SimOptions.machines). */
export interface SimMachine {
  cores: number;
  hosts: string[];
}

/** What the machine's busy time needs of a host (SimHost). */
export interface ServedHost {
  up: boolean;
  /** Service booked over every incarnation, less what a crash cut short. */
  lifeBusyMs: number;
  /** Busy serving until this true time (this incarnation). */
  busyUntil: number;
}

/** A machine's busy time at true time `now` since the run began: all its hosts' modeled
 * service (what is booked for later is not spent yet) against its cores. */
export function machineBusy(m: SimMachine, host: (name: string) => ServedHost | undefined, now: number): MachineBusy {
  let active = 0;
  for (const name of m.hosts) {
    const h = host(name);
    if (h !== undefined) active += h.lifeBusyMs - (h.up ? Math.max(0, h.busyUntil - now) : 0);
  }
  return { activeMs: active, idleMs: Math.max(0, m.cores * now - active), cores: m.cores };
}
