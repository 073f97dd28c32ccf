// Lease modes and byte ranges (thesis 3.1 "open region", 3.3 "Capabilities"): a capability is a
// mode and a half-open range; the whole file is [0, Infinity). The lease tables themselves are
// in src/actors/leases.ts (write leases replicated by a ministry, read leases local to a member).

export type LeaseMode = 'read' | 'write';

/** Half-open [start, end); end = Infinity means to the end of the file, however long. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Two ranges share at least one byte. */
export function rangesOverlap(a: ByteRange, b: ByteRange): boolean {
  return a.start < b.end && b.start < a.end;
}
