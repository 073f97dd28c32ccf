// How `npm run posix` counts pjdfstest's results from `prove -r -v` output (no FUSE needed).

import { describe, expect, it } from 'vitest';
import { parseProve } from './pjdfstest.js';

const OUTPUT = `/b/tests/mkdir/00.t .. 
1..5
ok 1
not ok 2 - tried 'chmod x 0644', expected 0, got ENOSYS
ok 3 # SKIP not here
not ok 4 # TODO known
not ok 5 - tried 'stat x uid', expected 65534, got 0
Failed 2/5 subtests 
/b/tests/mkdir/01.t .. 
1..4
ok 1
not ok 2 - tried 'mkfifo y 0644', expected 0, got EPERM
Failed 3/4 subtests 
/b/tests/rename/22.t .. skipped: (no reason given)

Test Summary Report
-------------------
/b/tests/mkdir/00.t (Wstat: 0 Tests: 5 Failed: 2)
Files=3, Tests=9,  1 wallclock secs
Result: FAIL
`;

describe('parseProve', () => {
  it('counts ok, SKIP and TODO as passed, tests never reached as failed, and groups failures by errno', () => {
    const files = parseProve(OUTPUT);
    expect(files.map((f) => [f.file, f.passed, f.total])).toEqual([
      ['/b/tests/mkdir/00.t', 3, 5],
      ['/b/tests/mkdir/01.t', 1, 4],
      ['/b/tests/rename/22.t', 0, 0],
    ]);
    expect(files[0]!.got).toEqual({ ENOSYS: 1, other: 1 });
    expect(files[1]!.got).toEqual({ EPERM: 1, 'not run': 2 });
    expect(files[0]!.failures[0]).toMatch(/got ENOSYS/);
  });
});
