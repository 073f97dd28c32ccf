// `npx tsx bench/client-gateway.ts [clients] [depth] [seconds]`: remote client asks per second
// through one node's client gateway on loopback, against a node root that answers at once (so
// the gateway's own cost shows, not Raft's): `clients` ClientConnections, each keeping `depth`
// asks in flight, for `seconds`. Prints asks/s, the round trip's p50 and p99, and the CPU time
// per ask of this process (client and node ends together: on a busy machine the steadier
// measure).

import { Bridge } from '../src/net/bridge.js';
import { ClientConnection } from '../src/client/connection.js';
import { MessageRegistry } from '../src/wire/registry.js';
import { RealDispatcher } from '../src/runtime/real-dispatcher.js';
import { LocalRuntime } from '../src/runtime/runtime.js';

const [clients, depth, seconds] = [Number(process.argv[2] ?? 8), Number(process.argv[3] ?? 16), Number(process.argv[4] ?? 5)];
const runtime = new LocalRuntime({ location: 'n1', dispatcher: new RealDispatcher(), registry: MessageRegistry.standard() });
const reply = { type: 'govfs.fs.NodeReport', id: 'n1', role: 'clerk' };
runtime.spawnRoot('n1', () => ({ receive: (ctx) => ctx.reply(reply) }));
const bridge = new Bridge({ runtime, secret: Buffer.alloc(32, 1), listen: { host: '127.0.0.1', port: 0 }, clients: { allowTarget: (to) => to === 'n1#/n1' } }).install();
await bridge.start();
const conns = await Promise.all(Array.from({ length: clients }, () => ClientConnection.open(`127.0.0.1:${bridge.address!.port}`)));
const lat: number[] = [];
let done = 0;
let measuring = false;
const until = performance.now() + 1000 + seconds * 1000;
let cpu0 = process.cpuUsage();
setTimeout(() => {
  measuring = true;
  cpu0 = process.cpuUsage();
}, 1000);
const start = performance.now() + 1000;
await Promise.all(conns.flatMap((c) => Array.from({ length: depth }, async () => {
  while (performance.now() < until) {
    const t = performance.now();
    await c.ask('n1#/n1', { type: 'govfs.fs.NodeProbe' }, 10_000);
    if (measuring) {
      lat.push(performance.now() - t);
      done++;
    }
  }
})));
const secs = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
lat.sort((a, b) => a - b);
const pct = (p: number): string => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]!.toFixed(3);
console.log(JSON.stringify({ clients, depth, asksPerSec: Math.round(done / secs), p50ms: pct(50), p99ms: pct(99), cpuUsPerAsk: +((cpu.user + cpu.system) / done).toFixed(2) }));
await Promise.all(conns.map((c) => c.close()));
await bridge.stop();
runtime.stopAll();
