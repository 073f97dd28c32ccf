import { describe, expect, it } from 'vitest';
import { crc32c, crc32cCombine } from '../../src/data/crc32c.js';
import { crc32cImplementation, crc32cJs } from '../../src/runtime/crc32c.js';

/** Bit-at-a-time CRC-32C: the definition, to check the table version against. */
function reference(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('gives the published check values (RFC 3720 B.4, and "123456789")', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('matches the bit-at-a-time definition at every alignment and length, and continues', () => {
    const buf = Uint8Array.from({ length: 4096 + 8 }, (_, i) => (i * 131 + (i >> 7)) & 0xff);
    for (let off = 0; off < 4; off++) {
      for (const len of [0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1000, 4096]) {
        const s = buf.subarray(off, off + len);
        expect(crc32c(s), `offset ${off} length ${len}`).toBe(reference(s));
        const cut = len >> 1;
        expect(crc32c(s.subarray(cut), crc32c(s.subarray(0, cut)))).toBe(reference(s));
      }
    }
  });

  it('the native CRC-32C (where it loads) and the JavaScript one agree at every alignment, length and starting CRC', () => {
    const buf = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 197 + (i >> 5)) & 0xff);
    for (let off = 0; off < 8; off++) {
      for (const len of [511, 512, 513, 1000, 4096, 65_536, 69_000]) {
        const s = buf.subarray(off, off + len);
        expect(crc32c(s), `offset ${off} length ${len}`).toBe(crc32cJs(s));
        expect(crc32c(s, 0xdeadbeef)).toBe(crc32cJs(s, 0xdeadbeef));
      }
    }
    expect(crc32c(buf.subarray(0, 4096))).toBe(reference(buf.subarray(0, 4096)));
  });

  it('on Linux x64 with glibc (CI and this machine) the native one serves: its package is installed by npm ci', () => {
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
    if (process.platform !== 'linux' || process.arch !== 'x64' || !glibc) return; // another platform's binary may be missing
    expect(crc32cImplementation).toBe('native');
  });

  it('combines the CRCs of two parts into the CRC of both, for any lengths', () => {
    const buf = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 131 + (i >> 9)) & 0xff);
    for (const [a, b] of [[0, 0], [0, 5], [7, 0], [1, 1], [13, 4096], [4, 65_536], [1000, 65_540], [3, 69_000]] as const) {
      const x = buf.subarray(0, a);
      const y = buf.subarray(a, a + b);
      expect(crc32cCombine(crc32c(x), crc32c(y), b), `${a} + ${b}`).toBe(reference(buf.subarray(0, a + b)));
    }
  });
});
