/* global process, Buffer, console */
// CPU time per Ping envelope of the ring codec on one thread: encode into ring-like memory, then
// decodeAt in place (docs/mailbox-path.md). Give it a checkout to measure, e.g. two worktrees in turn:
//   node --import tsx bench/mailbox-codec.mjs $PWD
const dir = process.argv[2];
const { MessageRegistry } = await import(`${dir}/src/wire/registry.ts`);
const { DirectWriter } = await import(`${dir}/src/wire/direct-writer.ts`);
const reg = MessageRegistry.standard();
const ring = new Uint8Array(new SharedArrayBuffer(1 << 20)); const text = Buffer.from(ring.buffer);
const w = new DirectWriter();
const payload = new Uint8Array(16).fill(7);
const env = { to: 't1#/cross-sink', from: 't0#/cross-source', kind: 0, corr: 0, msg: { type: 'govfs.runtime.Ping', seq: 0, sender: 1, payload } };
const K = 4000, B = 250; let sink = 0;
const res = [];
const starts = new Int32Array(K), ends = new Int32Array(K);
for (let r = 0; r < 5; r++) {
  let enc = 0, dec = 0;
  for (let b = 0; b < B; b++) {
    let at = 0;
    const c0 = process.cpuUsage().user;
    for (let i = 0; i < K; i++) { env.msg.seq = i; w.into(ring, at, ring.length); reg.encode(env, w); starts[i] = at; at += w.len; ends[i] = at; }
    const c1 = process.cpuUsage().user;
    for (let i = 0; i < K; i++) { const e = reg.decodeAt(ring, text, starts[i], ends[i], true); sink += e.msg.seq; }
    const c2 = process.cpuUsage().user;
    enc += c1 - c0; dec += c2 - c1;
  }
  res.push([enc / (K * B) * 1000, dec / (K * B) * 1000]);
}
if (sink < 0) throw new Error("unreachable"); // keeps the decodes
console.log(dir.split('/').pop(), 'encode ns/msg', res.map((x) => x[0].toFixed(0)).join(' '), '| decode ns/msg', res.map((x) => x[1].toFixed(0)).join(' '));
