// `npm run bench -- log-entry [--n 300000] [--rounds 5]`: the cost of one ministry log entry,
// a client's create, encoded by the minister and decoded by every member that applies it, in
// each form a ministry log has held: JSON (the first), the hand-written binary form (tag 0x01,
// made because JSON parsing was a sixth of apply time) and protobuf (govfs.log.MinistryEntry,
// what is written now). Each round times n encode + decode pairs per form, interleaved; the
// table gives the best and the median round (ns per entry) and the entry's size.

import type { ClientOp } from '../src/fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from '../src/actors/ministry-entry.js';
import { decodeClientChange } from '../src/actors/ministry-entry-legacy.js';
import { encodeLegacyClientChange } from '../test/support/legacy-client-change.js';

export const describe = 'ministry log entry encode + decode: JSON vs binary (tag 0x01) vs protobuf';

interface FormResult {
  form: string;
  bytes: number;
  bestNs: number;
  medianNs: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

const forms: { form: string; roundTrip: (c: ClientOp) => ClientOp }[] = [
  { form: 'json', roundTrip: (c) => JSON.parse(dec.decode(enc.encode(JSON.stringify(c)))) as ClientOp },
  { form: 'binary (tag 0x01)', roundTrip: (c) => decodeClientChange(encodeLegacyClientChange(c)!) },
  { form: 'protobuf', roundTrip: (c) => decodeMinistryEntry(encodeMinistryEntry(c)) as ClientOp },
];
const sizes: Record<string, (c: ClientOp) => number> = {
  json: (c) => enc.encode(JSON.stringify(c)).length,
  'binary (tag 0x01)': (c) => encodeLegacyClientChange(c)!.length,
  protobuf: (c) => encodeMinistryEntry(c).length,
};

export async function run(opts: Record<string, string | boolean | undefined>): Promise<FormResult[]> {
  const n = Number(opts['n'] ?? 300_000);
  const rounds = Number(opts['rounds'] ?? 5);
  // What the minister writes for a create: a client id, sequence numbers, its clock, a path.
  const entry = (i: number): ClientOp => ({ op: 'client', clientId: 'c1-4f2a9e', seq: 100_000 + i, acked: 99_999 + i, now: 1_733_000_000_000 + i, body: { op: 'create', path: `/bench/d${i & 63}/f${i}` } });
  const times = new Map<string, number[]>(forms.map((f) => [f.form, []]));
  let sink = 0;
  for (let r = 0; r < rounds + 1; r++) {
    for (const f of forms) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += f.roundTrip(entry(i)).seq;
      const ns = Number(process.hrtime.bigint() - t) / n;
      if (r > 0) times.get(f.form)!.push(ns); // round 0 warms up
    }
  }
  if (sink === 0) throw new Error('nothing decoded');
  return forms.map((f) => {
    const t = [...times.get(f.form)!].sort((a, b) => a - b);
    return { form: f.form, bytes: sizes[f.form]!(entry(12_345)), bestNs: t[0]!, medianNs: t[Math.floor(t.length / 2)]! };
  });
}

export function format(rs: FormResult[]): string {
  const base = rs.find((r) => r.form === 'binary (tag 0x01)')!;
  const rows = rs.map((r) => `${r.form.padEnd(18)} ${String(r.bytes).padStart(5)} ${r.bestNs.toFixed(0).padStart(8)} ${r.medianNs.toFixed(0).padStart(10)} ${(r.medianNs / base.medianNs).toFixed(2).padStart(10)}x`);
  return [`${'form'.padEnd(18)} bytes  best ns  median ns  vs binary`, ...rows].join('\n');
}
