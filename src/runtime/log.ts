// Where every thread and process logs: one pino logger per thread, built from the same
// settings (`--log LEVEL`, `--log-file F`), so the worker threads of `govfs cluster` log like
// its main thread and like `govfs node`. JSON lines; a terminal gets them formatted for reading.
//
// Each thread opens the log file itself in append mode and writes each line with one write()
// (sync destinations): O_APPEND makes every write land whole at the end of the file, so the
// lines of several threads interleave but never tear, and a line is on disk before the thread
// can be terminated (logs at info are rare: elections, appointments, refusals).

import { closeSync, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';

export interface LogSettings {
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  level: string;
  /** Append JSON lines to this file instead of writing to stderr. */
  file?: string;
  /** Format lines for a person (default: when stderr is a terminal and there is no file). */
  pretty?: boolean;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The settings from GOVFS_LOG / GOVFS_LOG_FILE (quiet without them). */
export function envLogSettings(): LogSettings {
  return { level: process.env.GOVFS_LOG || 'silent', file: process.env.GOVFS_LOG_FILE || undefined };
}

/** A usage problem with --log or --log-file, or null. */
export function logSettingsProblem(s: LogSettings): string | null {
  if (!(LOG_LEVELS as readonly string[]).includes(s.level)) return `--log wants one of ${LOG_LEVELS.join(', ')}; got "${s.level}"`;
  if (s.file !== undefined && s.file.trim() === '') return '--log-file wants a file name';
  return null;
}

/** Open (create) the log file once, so that a bad path is reported before anything starts. */
export function checkLogFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  try {
    if (!fstatSync(fd).isFile() && !fstatSync(fd).isFIFO()) throw new Error(`${file} is not a file`);
  } finally {
    closeSync(fd);
  }
}

/** A thread's logger. `base` names where it runs (its thread); each actor's child logger adds
 * its host and path. A line that does not say its `node` gets its actor's host, else `node`
 * (a process that is one node: `govfs node`); as a mixin, not a binding, so that a line giving
 * `node` itself does not carry the key twice. */
export function createLogger(s: LogSettings, base: Record<string, unknown> = {}, node?: string): Logger {
  return pino(
    {
      level: s.level,
      base,
      // An actor's lines carry its node as `node` (its child logger binds `host`).
      mixin: (obj: object, _level: number, logger: Logger) => {
        if ('node' in obj) return {};
        const bound = logger.bindings() as { host?: unknown; node?: unknown };
        if (bound.node !== undefined) return {};
        const host = bound.host;
        if (typeof host === 'string' && host !== '') return { node: host };
        return node === undefined ? {} : { node };
      },
    },
    destination(s),
  );
}

/** One descriptor per log file per thread, however many loggers (a simulation makes one per
 * runtime) write to it; closed when the thread ends. */
const files = new Map<string, number>();

function destination(s: LogSettings): DestinationStream {
  if (s.file) {
    let fd = files.get(s.file);
    if (fd === undefined) files.set(s.file, (fd = openSync(s.file, 'a')));
    const out = fd;
    return { write: (line: string) => void writeSync(out, line) };
  }
  const pretty = s.pretty ?? (process.stderr.isTTY === true);
  if (pretty) return { write: (line: string) => void writeSync(2, prettyLine(line)) };
  return { write: (line: string) => void writeSync(2, line) };
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOURS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Shown first, in this order, when present. */
const LEAD = ['node', 'role', 'ministry', 'term'] as const;
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'host', 'actor', ...LEAD]);

/** One JSON line as a person reads it: `12:00:01.234 INFO  [n2 minister m1 t7] text  k=v ...`. */
export function prettyLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof o.level === 'number' ? o.level : 30;
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const lead = LEAD.filter((k) => o[k] !== undefined && o[k] !== '').map((k) => (k === 'term' ? `t${String(o[k])}` : String(o[k])));
  const rest = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const colour = LEVEL_COLOURS[level] ?? '0';
  return `${time} \x1b[${colour}m${name}\x1b[0m ${lead.length ? `[${lead.join(' ')}] ` : ''}${String(o.msg ?? '')}${rest.length ? `  \x1b[90m${rest.join(' ')}\x1b[0m` : ''}\n`;
}
