// `npm run bench -- NAME [--json] [options]`: runs one benchmark, prints a table (or JSON).

import { parseArgs } from 'node:util';

interface Bench {
  describe: string;
  run(opts: Record<string, string | boolean | undefined>): Promise<unknown>;
  format(result: unknown): string;
}

const benches: Record<string, () => Promise<Bench>> = {
  mailbox: async () => {
    const m = await import('./mailbox.js');
    return {
      describe: 'same-thread vs ring vs postMessage delivery, ask round trips (--messages N, --asks N)',
      run: (o) => m.runMailboxBench({ messages: o.messages ? Number(o.messages) : undefined, asks: o.asks ? Number(o.asks) : undefined }),
      format: (r) => m.formatMailboxBench(r as Awaited<ReturnType<typeof m.runMailboxBench>>),
    };
  },
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: false,
    options: { json: { type: 'boolean' }, messages: { type: 'string' }, asks: { type: 'string' }, help: { type: 'boolean' } },
  });
  const name = positionals[0];
  if (!name || values.help || !benches[name]) {
    console.error(`usage: npm run bench -- NAME [--json]\n\nbenchmarks:\n${Object.keys(benches).map((b) => `  ${b}`).join('\n')}`);
    process.exitCode = name && !values.help ? 2 : 0;
    return;
  }
  const bench = await benches[name]!();
  const result = await bench.run(values as Record<string, string | boolean | undefined>);
  console.log(values.json ? JSON.stringify({ bench: name, node: process.version, result }, null, 2) : bench.format(result));
}

await main();
