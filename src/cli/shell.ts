// `govfs shell`: an interactive prompt over one connection, with the client commands plus cd
// and pwd, history and Tab completion of paths. Fed a script on stdin it runs each line in
// turn and exits 1 if any command failed (0 if all succeeded), so scripts can check it.

import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface, type Interface } from 'node:readline';
import type { DirEntry } from '../client/gov-client.js';
import { escapeText, hasUnsafeChars, shellQuote } from '../fs/names.js';
import { CLIENT_OPTIONS, fsMessage, openClient, runners } from './client-commands.js';
import { cliPath } from './paths.js';
import { cleanParseError, parse, stdio } from './usage.js';

const ANSI_C: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b', '\\': '\\', "'": "'", '"': '"' };

/** Bash's $'…' escapes (what shellQuote writes): \n, \e, \xHH, \uHHHH, ... The index after
 * the closing quote, and the text. */
function ansiC(line: string, start: number): { end: number; text: string } {
  let text = '';
  let i = start;
  for (; i < line.length && line[i] !== "'"; i++) {
    const ch = line[i]!;
    if (ch !== '\\' || i + 1 >= line.length) {
      text += ch;
      continue;
    }
    const next = line[++i]!;
    const hex = next === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(line.slice(i + 1)) : next === 'u' ? /^[0-9a-fA-F]{1,4}/.exec(line.slice(i + 1)) : null;
    if (hex) {
      text += String.fromCharCode(parseInt(hex[0], 16));
      i += hex[0].length;
    } else {
      text += ANSI_C[next] ?? `\\${next}`;
    }
  }
  return { end: i, text };
}

/** Split a command line into words ('single', "double" quotes, $'ansi-c' quotes as names are
 * printed, and \ escapes). */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (!quote && ch === '$' && line[i + 1] === "'") {
      const q = ansiC(line, i + 2);
      cur += q.text;
      any = true;
      i = q.end;
    } else if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
    }
  }
  if (cur || any) out.push(cur);
  return out;
}

const SHELL_COMMANDS = ['cd', 'pwd', 'help', 'exit'];

/**
 * The shell's Tab completion: command names, then paths (listed from the cluster). Listing is
 * asynchronous, and readline asks again for a second Tab before the first answer arrived (two
 * Tabs in one read, or typed quickly): both answers would then be inserted, each computed for
 * the line as it was, garbling it. So while one completion is in flight, another Tab
 * completes nothing.
 */
export type CompleterCallback = (err: null, result: [string[], string]) => void;

export function makeCompleter(ls: (dir: string) => Promise<DirEntry[]>, cwd: () => string): (line: string, cb: CompleterCallback) => void {
  let inFlight = false;
  return (line: string, cb: CompleterCallback): void => {
    const w = words(line);
    const ends = /\s$/.test(line) && !/\\\s$/.test(line);
    if (w.length === 0 || (w.length === 1 && !ends)) {
      const cmds = [...Object.keys(runners), ...SHELL_COMMANDS].sort();
      const prefix = w[0] ?? '';
      cb(null, [cmds.filter((c) => c.startsWith(prefix)).map((c) => `${c} `), prefix]);
      return;
    }
    if (inFlight) return cb(null, [[], '']);
    // The word being typed, as typed (escapes and all), and what it means.
    const raw = ends ? '' : (/(?:\\.|[^\s\\])+$/.exec(line)?.[0] ?? '');
    const partial = words(raw)[0] ?? '';
    const slash = partial.lastIndexOf('/');
    const dirPart = slash >= 0 ? partial.slice(0, slash + 1) : '';
    const base = slash >= 0 ? partial.slice(slash + 1) : partial;
    let dir: string;
    try {
      dir = cliPath(dirPart || '.', cwd()).path;
    } catch {
      return cb(null, [[], raw]);
    }
    // What is typed is replaced by the completion, escaped again; a name a terminal would act
    // on in its $'…' form, as ls shows it, so the list of candidates is safe to show too.
    const escape = (s: string) => s.replace(/([\s\\'"$])/g, '\\$1');
    const candidate = (e: DirEntry) => `${escape(dirPart)}${hasUnsafeChars(e.name) ? shellQuote(e.name) : escape(e.name)}${e.kind === 'dir' ? '/' : ''}`;
    inFlight = true;
    ls(dir).then(
      (entries) => {
        inFlight = false;
        cb(null, [entries.filter((e) => e.name.startsWith(base)).map(candidate), raw]);
      },
      () => {
        inFlight = false;
        cb(null, [[], raw]);
      },
    );
  };
}

export async function shellCommand(argv: string[], help: string): Promise<void> {
  const { values } = parse(argv, CLIENT_OPTIONS, false);
  if (values.help) return void console.log(help);
  const client = await openClient(values as { server?: string[] });
  const historyFile = process.env.GOVFS_HISTORY ?? join(homedir(), '.govfs_history');
  let history: string[] = [];
  try {
    history = readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 1000);
  } catch {
    // no history yet
  }
  let cwd = '/';
  let failed = false;
  const completer = makeCompleter((dir) => client.ls(dir), () => cwd);
  const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, completer, history, historySize: 1000, terminal: process.stdin.isTTY });
  const prompt = (): void => {
    rl.setPrompt(`govfs:${escapeText(cwd)}> `);
    rl.prompt();
  };
  console.log(`connected to ${client.server} (nodes ${client.nodeIds.join(', ')}). help lists the commands, exit or Ctrl-D leaves.`);
  prompt();
  const queue: string[] = [];
  let running: Promise<void> | null = null;
  let closing = false;
  const done = new Promise<void>((resolveDone) => {
    rl.on('close', () => {
      closing = true;
      void (running ?? Promise.resolve())
        .then(() => client.close())
        .then(resolveDone, resolveDone);
    });
  });
  rl.on('SIGINT', () => {
    rl.write('', { ctrl: true, name: 'u' });
    process.stdout.write('^C\n');
    prompt();
  });
  const fail = (msg: string): void => {
    console.error(msg);
    failed = true;
  };
  const runLine = async (line: string): Promise<void> => {
    const w = words(line);
    if (w.length === 0) return;
    if (line.trim()) {
      try {
        appendFileSync(historyFile, `${line.trim()}\n`);
      } catch {
        // history is best effort
      }
    }
    if (w.some((x) => x.includes('\ufffd'))) {
      // readline decodes stdin leniently: bytes that are not UTF-8 arrive as U+FFFD, and a
      // name would be stored other than typed. The shell cannot tell them from a typed U+FFFD.
      fail(`govfs: ${escapeText(line.trim())}: holds U+FFFD, what bytes that are not UTF-8 decode to; names are UTF-8 (for a name with U+FFFD itself, use the one-shot command)`);
      return;
    }
    const [cmd, ...rest] = w as [string, ...string[]];
    switch (cmd) {
      case 'exit':
      case 'quit':
        queue.length = 0;
        rl.close();
        return;
      case 'help':
        console.log('commands: ls [-l] [PATH], cd PATH, pwd, mkdir [-p] PATH..., touch PATH..., stat PATH..., rm [-r] PATH..., rmdir [-r] PATH..., mv FROM TO, status [--json], exit');
        return;
      case 'pwd':
        console.log(shellQuote(cwd));
        return;
      case 'cd': {
        let target = rest[0] ?? '/';
        try {
          target = cliPath(target, cwd).path;
          const st = await client.stat(target);
          if (st.kind !== 'dir') fail(`govfs: ${fsMessage(new Error('not a directory'), 'cd', target)}`);
          else cwd = target;
        } catch (e) {
          fail(`govfs: ${fsMessage(e, 'cd', target)}`);
        }
        return;
      }
    }
    const spec = runners[cmd];
    if (!spec || (cmd === 'status' && rest.includes('--watch'))) {
      fail(`govfs: unknown command "${cmd}" (help lists them)`);
      return;
    }
    try {
      const { values, positionals } = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true });
      if (positionals.length < spec.min || (spec.max !== undefined && positionals.length > spec.max)) throw new Error(`wrong number of arguments (govfs ${cmd} --help)`);
      if ((await spec.run(client, positionals, values as Record<string, unknown>, stdio, cwd)) !== 0) failed = true;
    } catch (e) {
      fail(`govfs: ${cmd}: ${cleanParseError(e)}`);
    }
  };
  rl.on('line', (line) => {
    queue.push(line);
    if (running) return;
    running = (async () => {
      while (queue.length > 0) await runLine(queue.shift()!);
      running = null;
      if (!closing) prompt();
    })();
  });
  await done;
  if (failed) process.exitCode = 1;
}
