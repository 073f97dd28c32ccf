// The child process of storage-check.ts: opens an lmdb environment read-only and reads every
// record, checking each govfs value (checksums, segment structure). lmdb may crash the process
// on a damaged file (SIGSEGV, SIGBUS, abort): that is why this runs in a child of its own. It
// prints one JSON line, a CheckReport, and exits 0; any other end means the file is damaged.
//
// Usage: node storage-check-child.(ts|js) DIR own|shared

import { open, type RootDatabase } from 'lmdb';
import { decodeSegment } from '../raft/log-store.js';
import { unseal } from '../runtime/sealed.js';
import { decodeKey } from '../runtime/storage-lmdb.js';

export interface CheckReport {
  records: number;
  bytes: number;
  /** What is wrong, first few; empty when the environment is sound. */
  problems: string[];
}

const MAX_PROBLEMS = 5;
export const CHECKER_STARTED = 'govfs-storage-check: reading';
const SEGMENT_KEY = /(?:^|\/)e\/(\d{16})$/;

function checkValue(db: string, key: string, value: Uint8Array): void {
  const where = db ? `${db}: ${key}` : key;
  const segment = SEGMENT_KEY.exec(key);
  if (segment) decodeSegment(Number(segment[1]), value);
  else unseal(value, where);
}

function walk(db: RootDatabase<Buffer, Buffer>, name: string, report: CheckReport): void {
  let walked = 0;
  for (const { key, value } of db.getRange({})) {
    walked++;
    report.records++;
    report.bytes += value.length;
    try {
      checkValue(name, decodeKey(key), value);
    } catch (e) {
      problem(report, `${name ? `${name}: ` : ''}${(e as Error).message}`);
    }
  }
  // A damaged branch page can hide a whole subtree from the walk without an error: the count
  // lmdb keeps in the database's record must match what was read.
  const counted = (db.getStats() as { entryCount: number }).entryCount;
  if (counted !== walked) problem(report, `${name ? `database ${name}` : 'the database'} holds ${counted} records, but only ${walked} could be read`);
}

function problem(report: CheckReport, what: string): void {
  if (report.problems.length < MAX_PROBLEMS) report.problems.push(what);
}

function main(): void {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || (mode !== 'own' && mode !== 'shared')) {
    process.stderr.write('usage: storage-check-child DIR own|shared\n');
    process.exit(2);
  }
  const report: CheckReport = { records: 0, bytes: 0, problems: [] };
  // Tells the parent the checker itself is running: a failure before this line is not damage.
  process.stdout.write(`${CHECKER_STARTED}\n`);
  try {
    const root = open<Buffer, Buffer>({ path: dir, readOnly: true, keyEncoding: 'binary', encoding: 'binary', ...(mode === 'shared' ? { maxDbs: 1024 } : {}) });
    if (mode === 'own') walk(root, '', report);
    else {
      // The main database of a shared environment names one database per node.
      // Names first: opening a database while a cursor still walks the main one can find the
      // read transaction renewed under it (MDB_BAD_TXN), which is no damage of the file.
      const names = [...root.getKeys({})].map((key) => decodeKey(key as Buffer));
      for (const name of names) {
        walk(root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' }) as RootDatabase<Buffer, Buffer>, name, report);
      }
    }
  } catch (e) {
    report.problems.push(`lmdb cannot read it: ${(e as Error).message}`);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main();
