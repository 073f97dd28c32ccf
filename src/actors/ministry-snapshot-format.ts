// The byte layouts of a ministry's replicated state outside the log (MinistryNamespace): its
// snapshot (namespace, write leases, file layouts, migration marks, the ledger of renames
// across ministries) and the state a live migration hands over (a subtree's namespace and its
// files' layouts). Cut out of ministry-namespace.ts when both the data plane and live
// migration added parts.

/** The first word of a ministry snapshot that holds migration marks. */
const MARKS_FORMAT = 0xffff_ffff;
/** The first word of a ministry snapshot that holds a rename ledger (rename-ledger.ts). */
const RENAMES_FORMAT = 0xffff_fffe;
/** A namespace snapshot's first bytes (namespace-snapshot.ts): how the rename branch's own
 * format, which began with MARKS_FORMAT too, is told from a snapshot with marks. */
const NS_MAGIC = [0x00, 0x47, 0x4e, 0x53];
/** Marks the lease state's length word of a snapshot that holds file layouts. */
const LAYOUTS_FLAG = 0x80000000;
/** A handover with file layouts starts with these bytes (a bare namespace snapshot with "\0GNS"). */
const HANDOVER_MAGIC = [0x00, 0x47, 0x48, 0x4f]; // "\0GHO"

export interface MinistrySnapshotParts {
  ns: Uint8Array;
  leases: Uint8Array;
  /** Null in snapshots from before the data plane. */
  layouts: Uint8Array | null;
  /** Null when no migration touched the ministry. */
  marks: Uint8Array | null;
  /** Null when no rename across ministries is open or remembered here. */
  renames?: Uint8Array | null;
}

/** [u32 MARKS_FORMAT][u32 length][marks] when there are marks (no namespace snapshot is that
 * long, so a ministry no migration touched writes the same bytes as before), then [u32 length
 * of the namespace snapshot][namespace snapshot][u32 LAYOUTS_FLAG | length of the lease
 * state][lease state][file layouts]. Snapshots from before layouts have the lease state right
 * after the namespace: its first byte (0x02 or '{') has the top bit clear. */
export function joinMinistrySnapshot(p: MinistrySnapshotParts): Uint8Array {
  const rest = joinWithoutRenames(p);
  if (!p.renames) return rest;
  // [u32 RENAMES_FORMAT][u32 length][ledger], then the snapshot without it.
  const out = new Uint8Array(8 + p.renames.length + rest.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, RENAMES_FORMAT);
  v.setUint32(4, p.renames.length);
  out.set(p.renames, 8);
  out.set(rest, 8 + p.renames.length);
  return out;
}

function joinWithoutRenames(p: MinistrySnapshotParts): Uint8Array {
  const head = p.marks === null ? 0 : 8 + p.marks.length;
  const layouts = p.layouts ?? new Uint8Array(0);
  const out = new Uint8Array(head + 8 + p.ns.length + p.leases.length + layouts.length);
  const v = new DataView(out.buffer);
  if (p.marks !== null) {
    v.setUint32(0, MARKS_FORMAT);
    v.setUint32(4, p.marks.length);
    out.set(p.marks, 8);
  }
  let at = head;
  v.setUint32(at, p.ns.length);
  out.set(p.ns, (at += 4));
  v.setUint32((at += p.ns.length), (LAYOUTS_FLAG | p.leases.length) >>> 0);
  out.set(p.leases, (at += 4));
  out.set(layouts, at + p.leases.length);
  return out;
}

/** The parts of a snapshot of any format a ministry has written: before layouts, with layouts,
 * with marks (before layouts or after). */
export function splitMinistrySnapshot(data: Uint8Array): MinistrySnapshotParts {
  const v = viewOf(data);
  const renames = leadingSection(data, v, RENAMES_FORMAT);
  if (renames !== null) return { ...splitWithoutRenames(renames.rest), renames: renames.section };
  if (data.length >= 12 && v.getUint32(0) === MARKS_FORMAT && NS_MAGIC.every((b, i) => data[8 + i] === b)) return splitRenameBranch(data, v);
  return { ...splitWithoutRenames(data), renames: null };
}

const viewOf = (data: Uint8Array): DataView => new DataView(data.buffer, data.byteOffset, data.byteLength);

/** [format][u32 length][section] at the start of `data`: the section and the bytes after it;
 * null when `data` does not start with `format`. */
function leadingSection(data: Uint8Array, v: DataView, format: number): { section: Uint8Array; rest: Uint8Array } | null {
  if (data.length < 8 || v.getUint32(0) !== format) return null;
  const n = v.getUint32(4);
  return { section: data.subarray(8, 8 + n), rest: data.subarray(8 + n) };
}

/** The rename branch's format before the data plane: [MARKS_FORMAT][u32 n][namespace][u32 r]
 * [ledger][lease state]. */
function splitRenameBranch(data: Uint8Array, v: DataView): MinistrySnapshotParts {
  const n = v.getUint32(4);
  const r = v.getUint32(8 + n);
  return { ns: data.subarray(8, 8 + n), renames: data.subarray(12 + n, 12 + n + r), leases: data.subarray(12 + n + r), layouts: null, marks: null };
}

function splitWithoutRenames(whole: Uint8Array): MinistrySnapshotParts {
  const marked = leadingSection(whole, viewOf(whole), MARKS_FORMAT);
  const marks = marked?.section ?? null;
  const data = marked?.rest ?? whole;
  const v = viewOf(data);
  const n = v.getUint32(0);
  const ns = data.subarray(4, 4 + n);
  const mark = data.length >= 8 + n ? v.getUint32(4 + n) : 0;
  if ((mark & LAYOUTS_FLAG) === 0) return { ns, leases: data.subarray(4 + n), layouts: null, marks };
  const leasesLen = (mark & ~LAYOUTS_FLAG) >>> 0;
  return { ns, leases: data.subarray(8 + n, 8 + n + leasesLen), layouts: data.subarray(8 + n + leasesLen), marks };
}

/** What a migration hands over: the subtree's namespace snapshot and, when its files have
 * contents, their layouts (keyed by the source's inode numbers). Without layouts it is the bare
 * namespace snapshot, as before the data plane. */
export function joinHandover(ns: Uint8Array, layouts: Uint8Array | null): Uint8Array {
  if (layouts === null) return ns;
  const out = new Uint8Array(8 + ns.length + layouts.length);
  out.set(HANDOVER_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, ns.length);
  out.set(ns, 8);
  out.set(layouts, 8 + ns.length);
  return out;
}

export function splitHandover(data: Uint8Array): { ns: Uint8Array; layouts: Uint8Array | null } {
  if (data.length < 8 || !HANDOVER_MAGIC.every((b, i) => data[i] === b)) return { ns: data, layouts: null };
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(4);
  return { ns: data.subarray(8, 8 + n), layouts: data.subarray(8 + n) };
}
