// What every govfs command shares: usage errors (exit 2), option parsing and where output
// goes. Light on purpose: `govfs --help` loads this and nothing heavier.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export const DEFAULT_SERVER = '127.0.0.1:7400';

/** A usage error: exit 2. */
export class UsageError extends Error {}

export interface Out {
  log(s: string): void;
  err(s: string): void;
}
export const stdio: Out = { log: (s) => console.log(s), err: (s) => console.error(s) };

export type Options = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T & typeof HELP_OPTION; allowPositionals: boolean; strict: true }>>;

export function parse<T extends Options>(argv: string[], options: T, positionals = true): Parsed<T> {
  try {
    return parseArgs({ args: argv, options: { ...options, ...HELP_OPTION }, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new UsageError(cleanParseError(e));
  }
}

/** node:util's parse error without its advice about `--` (which govfs does not need). */
export function cleanParseError(e: unknown): string {
  return (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
}

export function intOption(v: string | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got "${v}"`);
  return n;
}

/** Resolves once `stop` finished after SIGINT or SIGTERM; a second signal exits at once. */
export function untilSignal(stop: () => Promise<void>, what: string): Promise<void> {
  return new Promise<void>((resolveDone) => {
    let stopping = false;
    const onSignal = (sig: string): void => {
      if (stopping) {
        console.error(`govfs: ${sig} again: exiting at once`);
        process.exit(130);
      }
      stopping = true;
      console.error(`govfs: ${sig}: stopping ${what}...`);
      stop().then(
        () => {
          console.error(`govfs: ${what} stopped cleanly.`);
          resolveDone();
        },
        (e: unknown) => {
          console.error(`govfs: stopping ${what} failed: ${(e as Error).message}`);
          process.exitCode = 1;
          resolveDone();
        },
      );
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
