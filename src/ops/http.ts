// The operator's HTTP endpoints: `--metrics host:port` serves /metrics (Prometheus), `--http
// host:port` the live web view (static files from ./page, the current state as JSON at
// /api/state, and every poll as a server-sent event at /events). The same address for both
// serves both from one server. Read only: nothing here changes the cluster.

import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpsWatcher, type OpsEvent, type OpsSample, type WatcherOptions } from './events.js';
import { METRICS_CONTENT_TYPE, OpsMetrics } from './metrics.js';
import type { OpsSource } from './source.js';
import { RuntimeError } from '../runtime/errors.js';

export interface OpsOptions {
  /** Serve /metrics here. */
  metrics?: { host: string; port: number };
  /** Serve the web view here. */
  http?: { host: string; port: number };
  watcher?: WatcherOptions;
}

const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** The page's folder: next to this module in a checkout (tsx) or found from the package root
 * (the esbuild bundle in dist/cli and tsc's dist/src do not copy it). */
function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'page')];
  for (let d = here, i = 0; i < 5; i++, d = dirname(d)) candidates.push(join(d, 'src', 'ops', 'page'));
  const found = candidates.find((c) => existsSync(join(c, 'index.html')));
  if (!found) throw new RuntimeError('ENOENT', `the web view's files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

/** What the page gets first: the history it draws and the timeline so far. */
function state(watcher: OpsWatcher): object {
  return { name: watcher.source.name, samples: watcher.samples.map(brief), latest: watcher.latest, events: watcher.events };
}

/** A sample without its status and counters, for the charts' history. */
function brief(s: OpsSample): object {
  return { at: s.at, rates: s.rates, utilisation: s.utilisation };
}

export class OpsServer {
  private readonly servers: Server[] = [];
  private readonly streams = new Set<ServerResponse>();
  readonly metrics: OpsMetrics | null;
  readonly addresses: { metrics: string; http: string } = { metrics: '', http: '' };
  private unsubscribe: (() => void) | null = null;
  private readonly page: Map<string, Buffer> = new Map();

  private constructor(readonly watcher: OpsWatcher, withMetrics: boolean) {
    this.metrics = withMetrics ? new OpsMetrics(watcher) : null;
  }

  /** Start polling `source` and serve what `opts` asks for. */
  static async start(source: OpsSource, opts: OpsOptions): Promise<OpsServer> {
    const ops = new OpsServer(new OpsWatcher(source, opts.watcher), opts.metrics !== undefined);
    try {
      if (opts.http) for (const f of new Set(Object.values(PAGE_FILES))) ops.page.set(f, readFileSync(join(pageDir(), f)));
      const same = opts.metrics && opts.http && opts.metrics.host === opts.http.host && opts.metrics.port === opts.http.port;
      if (opts.metrics) ops.addresses.metrics = await ops.listen(opts.metrics, { metrics: true, view: !!same });
      if (opts.http) ops.addresses.http = same ? ops.addresses.metrics : await ops.listen(opts.http, { metrics: false, view: true });
      ops.unsubscribe = ops.watcher.subscribe((s, events) => ops.broadcast(s, events));
      await ops.watcher.start();
    } catch (e) {
      await ops.stop();
      throw e;
    }
    return ops;
  }

  private listen(at: { host: string; port: number }, serves: { metrics: boolean; view: boolean }): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res, serves));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        const a = server.address() as AddressInfo;
        resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, serves: { metrics: boolean; view: boolean }): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    try {
      if (serves.metrics && path === '/metrics' && this.metrics) {
        const body = await this.metrics.metrics();
        return void res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(body);
      }
      if (serves.view) {
        const file = PAGE_FILES[path];
        if (file) return void res.writeHead(200, { 'content-type': TYPES[file.split('.').pop()!]!, 'cache-control': 'no-cache' }).end(this.page.get(file));
        if (path === '/api/state') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state(this.watcher)));
        if (path === '/events') return this.stream(res);
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end(serves.view ? 'not found\n' : 'not found: metrics are at /metrics\n');
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    }
  }

  /** A server-sent event stream: the whole state once, then every poll. */
  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(`event: state\ndata: ${JSON.stringify(state(this.watcher))}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  private broadcast(sample: OpsSample, events: OpsEvent[]): void {
    if (this.streams.size === 0) return;
    const msg = `event: sample\ndata: ${JSON.stringify({ sample, events })}\n\n`;
    for (const res of this.streams) res.write(msg);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.watcher.stop();
    for (const res of this.streams) res.end();
    this.streams.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    })));
  }
}
