// A bench thread's own CPU time, for figures that a loaded machine does not change.

import { readFileSync } from 'node:fs';

/** This thread's CPU time (user + system, ms; 10 ms steps) from Linux's /proc/thread-self/stat,
 * or -1 where there is none: what a pass cost, whatever else loads the machine. */
export function threadCpuMs(): number {
  try {
    const s = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // fields 14 and 15 of stat(5), in 1/100 s
  } catch {
    return -1;
  }
}
