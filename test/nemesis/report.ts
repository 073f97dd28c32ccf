// The nemesis's report: a summary table (stdout), and under nemesis-out/ the JSON history and
// an HTML page with an SVG timeline, like Jepsen's: one lane of operations per client (green
// ok, amber a namespace error, red unknown outcome), the faults as shaded bands from injection
// to heal, and the latency of every operation over time below.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeNsInput } from '../support/namespace-model.js';
import type { RunResult } from './nemesis.js';

const fmt = (ms: number | null): string => (ms === null ? '-' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** The summary table. */
export function summary(r: RunResult): string {
  const ops = r.history.filter((o) => o.client !== 'setup' && o.client !== 'final');
  const by = (o: string): number => ops.filter((x) => x.outcome === o).length;
  const lines: string[] = [];
  const row = (k: string, v: string): number => lines.push(`${k.padEnd(28)} ${v}`);
  row('seed', String(r.options.seed));
  row('nodes / ministries', `${r.options.nodes} / ${r.subtrees.length} (${r.subtrees.join(' ')}) on ${r.network}`);
  row('duration', `${(r.durationMs / 1000).toFixed(1)} s (faults for ${r.options.durationS} s)`);
  row('operations', `${ops.length}: ${by('ok')} ok, ${by('fail')} namespace errors, ${by('unknown')} unknown outcome`);
  row('linearizability', `${r.linearizability.checked} operations in ${r.linearizability.parts} independent directories`);
  const uses = r.leases.holds.reduce((n, h) => n + h.uses.length, 0);
  row('leases', `${r.leases.opens.ok} write leases granted (${r.leases.opens.failed} opens failed), ${uses} uses witnessed`);
  const kinds = [...new Set(r.faults.map((f) => f.kind))];
  row('faults injected', `${r.faults.length}${kinds.length ? ` (${kinds.map((k) => `${k} ${r.faults.filter((f) => f.kind === k).length}`).join(', ')})` : ''}`);
  for (const [k, why] of Object.entries(r.skipped)) row(`  skipped: ${k}`, why);
  for (const n of r.notes) row('  note', n);
  row('startup (every ministry)', fmt(r.startupMs));
  row('recovery p50 / p99 / max', `${fmt(r.recovery.p50)} / ${fmt(r.recovery.p99)} / ${fmt(r.recovery.max)} (heal -> every ministry serving)`);
  row('final recovery', fmt(r.finalRecoveryMs));
  row('process exits', `${r.exits.length} (${r.exits.filter((e) => !e.expected).length} not caused by the nemesis)`);
  row('anomalies', String(r.anomalies.length));
  for (const a of r.anomalies) lines.push(`  ${a.kind}: ${a.detail.split('\n').slice(0, 12).join('\n    ')}`);
  lines.push('', 'faults:');
  for (const f of r.faults) lines.push(`  ${(f.start / 1000).toFixed(1).padStart(6)} s  ${f.kind.padEnd(9)} ${f.targets.map((t, i) => `${t}(${f.roles[i]})`).join('+').padEnd(22)} ${f.detail}; recovery ${fmt(f.recoveryMs)}`);
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The timeline page (self-contained HTML with inline SVG). */
export function timelineHtml(r: RunResult): string {
  const clients = [...new Set([...r.history.map((o) => o.client), ...r.leases.holds.map((h) => h.client)])];
  const end = Math.max(1, ...r.history.map((o) => o.ret ?? o.call), ...r.faults.map((f) => f.healed + (f.recoveryMs ?? 0)));
  const W = 1400;
  const left = 60;
  const lane = 18;
  const x = (t: number): number => left + (t / end) * (W - left - 10);
  const laneTop = 20;
  const lanesH = clients.length * lane;
  const latTop = laneTop + lanesH + 40;
  const latH = 200;
  const lats = r.history.filter((o) => o.ret !== undefined).map((o) => o.ret! - o.call);
  const maxLat = Math.max(10, ...lats);
  const y = (ms: number): number => latTop + latH - (Math.log10(1 + ms) / Math.log10(1 + maxLat)) * latH;
  const parts: string[] = [];
  for (const f of r.faults) {
    parts.push(`<rect x="${x(f.start)}" y="0" width="${Math.max(1, x(f.healed) - x(f.start))}" height="${latTop + latH}" fill="#f4c7c3" opacity="0.6"><title>${esc(`${f.kind} ${f.targets.join('+')}: ${f.detail}`)}</title></rect>`);
    if (f.recoveryMs !== null) parts.push(`<rect x="${x(f.healed)}" y="0" width="${Math.max(1, x(f.healed + f.recoveryMs) - x(f.healed))}" height="${latTop + latH}" fill="#fce8b2" opacity="0.6"><title>recovery ${f.recoveryMs} ms</title></rect>`);
    parts.push(`<text x="${x(f.start) + 2}" y="12" font-size="10">${esc(`${f.kind} ${f.targets.join('+')}`)}</text>`);
  }
  clients.forEach((c, i) => parts.push(`<text x="4" y="${laneTop + i * lane + 12}" font-size="11">${esc(c)}</text>`));
  const colour = { ok: '#34a853', fail: '#f9ab00', unknown: '#ea4335', pending: '#999' } as const;
  for (const o of r.history) {
    const i = clients.indexOf(o.client);
    const ret = o.ret ?? end;
    const title = `${o.client} ${describeNsInput(o.input)}${o.linearizable ? ' (linearizable)' : ''}: ${o.outcome}${o.error ? ` ${o.error}` : ''} [${o.call.toFixed(0)}..${o.ret?.toFixed(0) ?? '?'} ms]`;
    parts.push(`<rect x="${x(o.call)}" y="${laneTop + i * lane + 2}" width="${Math.max(1, x(ret) - x(o.call))}" height="${lane - 4}" fill="${colour[o.outcome]}"><title>${esc(title)}</title></rect>`);
    if (o.ret !== undefined) parts.push(`<circle cx="${x(o.ret)}" cy="${y(o.ret - o.call)}" r="1.5" fill="${colour[o.outcome]}"/>`);
  }
  for (const l of r.leases.holds) {
    const i = clients.indexOf(l.client);
    const title = `${l.client} write lease ${l.leaseId} on ${l.path}, token ${l.token}, from ${l.grantedBy}: ${l.uses.length} uses [${l.granted.toFixed(0)}..${l.released?.toFixed(0) ?? '?'} ms]${l.end ? `; ${l.end}` : ''}`;
    parts.push(`<rect x="${x(l.granted)}" y="${laneTop + i * lane + 2}" width="${Math.max(1, x(l.released ?? end) - x(l.granted))}" height="${lane - 4}" fill="#4285f4"><title>${esc(title)}</title></rect>`);
  }
  for (const ms of [1, 10, 100, 1000, 10_000]) {
    if (ms > maxLat) break;
    parts.push(`<line x1="${left}" x2="${W}" y1="${y(ms)}" y2="${y(ms)}" stroke="#ddd"/><text x="4" y="${y(ms) + 4}" font-size="10">${fmt(ms)}</text>`);
  }
  for (let s = 0; s * 1000 <= end; s += Math.max(1, Math.round(end / 1000 / 20))) parts.push(`<text x="${x(s * 1000)}" y="${latTop + latH + 14}" font-size="10">${s}s</text>`);
  const H = latTop + latH + 24;
  return `<!doctype html><meta charset="utf-8"><title>govfs nemesis, seed ${r.options.seed}</title>
<style>body{font-family:sans-serif;margin:1em}pre{background:#f6f6f6;padding:.5em}</style>
<h1>govfs nemesis, seed ${r.options.seed}</h1>
<pre>${esc(summary(r))}</pre>
<p>Lanes: operations per client (green ok, amber namespace error, red unknown outcome; blue: a write lease held; hover for details). Red bands: faults (injection to heal); yellow: recovery. Below: latency per operation (log scale) when it returned.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg>`;
}

/** Write history.json, summary.txt and timeline.html under `outDir`; returns the folder. */
export function writeReport(r: RunResult, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(r, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v), 1);
  writeFileSync(join(outDir, 'history.json'), json);
  writeFileSync(join(outDir, 'summary.txt'), summary(r) + '\n');
  writeFileSync(join(outDir, 'timeline.html'), timelineHtml(r));
  return outDir;
}
