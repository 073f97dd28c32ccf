// Types of long-functions.mjs, for the tests that import it.

export interface LongCode {
  /** Path of the file (relative to the root given). */
  file: string;
  kind: 'file' | 'function';
  name: string;
  /** First line (1-based). */
  line: number;
  lines: number;
  /** Whether its top says why it is long. */
  reason: boolean;
}

export const MAX_FILE_LINES: number;
export const MAX_FUNCTION_LINES: number;
export function longCodeIn(file: string, text: string, limits?: { maxFileLines?: number; maxFunctionLines?: number }): LongCode[];
export function findLongCode(dir: string, root?: string): LongCode[];
