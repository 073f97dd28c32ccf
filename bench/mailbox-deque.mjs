/* global process, console, performance */
// Deque (mailboxes, run queues) of two checkouts side by side, min of 7 (docs/mailbox-path.md):
//   node --import tsx bench/mailbox-deque.mjs NEW_CHECKOUT OLD_CHECKOUT
const { Deque: New } = await import(`${process.argv[2]}/src/runtime/random.ts`);
const { Deque: Old } = await import(`${process.argv[3]}/src/runtime/random.ts`);
const obj = { a: 1 };
function burst(D) { const d = new D(); let s = 0; for (let r = 0; r < 200; r++) { for (let i = 0; i < 10000; i++) d.push(obj); while (d.length) { d.shift(); s++; } } return s; }
function mixed(D) { const d = new D(); let s = 0; for (let i = 0; i < 2000000; i++) { d.push(obj); d.push(obj); d.shift(); if (d.length > 5000) while (d.length) { d.shift(); s++; } } return s; }
function single(D) { const d = new D(); let s = 0; for (let i = 0; i < 2000000; i++) { d.push(obj); d.shift(); s++; } return s; }
for (const [name, f] of [['burst 10k', burst], ['grow/drain', mixed], ['one at a time', single]]) {
  const res = {};
  for (let r = 0; r < 7; r++) for (const [k, D] of [['old', Old], ['new', New]]) { const t0 = performance.now(); f(D); const dt = performance.now() - t0; res[k] = Math.min(res[k] ?? Infinity, dt); }
  console.log(name, 'min ms old', res.old.toFixed(1), 'new', res.new.toFixed(1));
}
