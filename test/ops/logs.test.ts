// Logs from every thread: `govfs cluster --log info --log-file F` makes the worker threads (where
// the nodes run) write their JSON lines to F, beside the main thread's, with the node, role,
// ministry and term of what they report: the election of the president and the appointments
// of the root ministry's staff are there.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prettyLine } from '../../src/runtime/log.js';
import { GovfsProcess } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Line = Record<string, unknown> & { msg: string; level: number };

describe('govfs cluster --log-file', () => {
  it('gets JSON lines from the worker threads, with node, role, ministry and term', async () => {
    const file = join(dir, 'logs', 'govfs.log');
    const p = new GovfsProcess(['cluster', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--threads', '2', '--log', 'info', '--log-file', file]);
    let lines: Line[] = [];
    try {
      await p.waitFor(/^ready: /m, 90_000);
      // The members log their appointments as they take them: wait for the root's three.
      const deadline = Date.now() + 30_000;
      for (;;) {
        lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
        if (lines.filter((l) => / appointed (minister|clerk) of ministry /.test(l.msg)).length >= 3) break;
        if (Date.now() > deadline) throw new Error(`no appointment lines within 30 s:\n${lines.map((l) => l.msg).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await p.stop();
    }
    // Every thread wrote to the file: both worker threads, and nothing went to stderr.
    const threads = new Set(lines.map((l) => l.thread));
    expect(threads).toContain('t0');
    expect(threads).toContain('t1');
    expect(p.stderr).not.toMatch(/"level":/);

    const won = lines.find((l) => l.msg.startsWith('raft election won') && l.group === 'cluster');
    expect(won, 'a cluster-log election line').toBeDefined();
    expect(won).toMatchObject({ level: 30, role: 'president', node: expect.stringMatching(/^n\d$/), term: expect.any(Number) });

    const minister = lines.find((l) => / appointed minister of ministry /.test(l.msg));
    expect(minister).toMatchObject({ level: 30, role: 'minister', ministry: expect.any(String), node: expect.stringMatching(/^n\d$/), term: expect.any(Number) });
    const clerks = lines.filter((l) => / appointed clerk of ministry /.test(l.msg) && l.ministry === minister!.ministry && l.term === minister!.term);
    expect(clerks.map((l) => l.role)).toEqual(['clerk', 'clerk']);

    // The president's order behind them, with its role.
    // (Its ministry has no id until the order applies: it names the subtree.)
    const order = lines.find((l) => /orders appoint/.test(l.msg) && l.subtree === '/');
    expect(order).toMatchObject({ role: 'president', cause: 'bootstrap', newMinister: minister!.node });
    expect(minister).toMatchObject({ subtree: '/' });
    const presidents = lines.filter((l) => l.msg.startsWith('raft election won') && l.group === 'cluster').map((l) => l.node);
    expect(presidents).toContain(order!.node);
    // Every line from an actor names its node.
    for (const l of lines.filter((x) => typeof x.actor === 'string')) expect(l.node, l.msg).toEqual(expect.any(String));
  }, 150_000);
});

describe('prettyLine', () => {
  it('puts node, role, ministry and term first, then the message and the other fields', () => {
    const s = prettyLine(`${JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 1, 12, 0, 1, 234), node: 'n2', role: 'minister', ministry: 'm1', term: 7, msg: 'hello', extra: { a: 1 } })}\n`);
    // eslint-disable-next-line no-control-regex
    expect(s.replace(/\x1b\[\d+m/g, '')).toBe('12:00:01.234 WARN  [n2 minister m1 t7] hello  extra={"a":1}\n');
    expect(prettyLine('not json\n')).toBe('not json\n');
  });
});
