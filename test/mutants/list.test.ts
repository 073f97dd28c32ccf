// The planted bugs of `npm run mutants` stay plantable: each edit's text is in its file exactly
// once, and each mutant names test files that exist. A change that moves or rewrites the code a
// mutant plants into fails here, in `npm test`, rather than only when someone runs the mutants.

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MUTANTS } from './list.js';

const ROOT = new URL('../../', import.meta.url);

describe('test/mutants/list.ts', () => {
  it.each(MUTANTS.map((m) => [m.id, m] as const))('%s: its edits apply once and its tests exist', (_id, m) => {
    expect(m.edits.length).toBeGreaterThan(0);
    for (const e of m.edits) {
      const text = readFileSync(new URL(e.file, ROOT), 'utf8');
      expect(text.split(e.find).length - 1, `${e.file}: ${JSON.stringify(e.find)}`).toBe(1);
    }
    expect(m.tests.length).toBeGreaterThan(0);
    for (const t of m.tests) expect(existsSync(new URL(t, ROOT)), t).toBe(true);
  });
});
