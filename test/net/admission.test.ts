// Connection admission's parts on their own (src/net/admission.ts): the address a connection
// counts under, slot tables per address and in total, refusal codes, and the limiter that keeps
// refusal warnings to a few per address plus a periodic summary.

import { describe, expect, it } from 'vitest';
import { AdmissionError, Refusal, SlotTable, WarnLimiter, addressKey, refusalCode, refusalOf } from '../../src/net/admission.js';

describe('addressKey', () => {
  it('counts IPv4 (also mapped into IPv6) by address and IPv6 by its /64', () => {
    expect(addressKey('127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::5')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});

describe('SlotTable', () => {
  it('bounds one address to its share and all addresses to the total, and frees slots on release', () => {
    const t = new SlotTable('handshake', 5, 2);
    expect(t.take('a')).toBeNull();
    expect(t.take('a')).toBeNull();
    const third = t.take('a')!;
    expect(third).toBeInstanceOf(AdmissionError);
    expect(third).toMatchObject({ refusal: Refusal.TooManyHandshakesFromAddress, code: 'EAGAIN', message: 'too many unauthenticated connections from a (2, the limit per address): try again in a moment' });
    expect(t.take('b')).toBeNull();
    expect(t.take('b')).toBeNull();
    expect(t.take('c')).toBeNull();
    expect(t.take('d')).toMatchObject({ refusal: Refusal.TooManyHandshakes, code: 'EAGAIN', message: expect.stringMatching(/too many unauthenticated connections \(5, the limit\)/) });
    expect(t.size).toBe(5);
    t.release('a');
    expect(t.count('a')).toBe(1);
    expect(t.take('d')).toBeNull();
    t.release('zzz'); // never held: nothing to free
    expect(t.size).toBe(5);
  });

  it('client slots refuse with EUSERS, saying whose share is used up', () => {
    const t = new SlotTable('client', 3, 1);
    expect(t.take('10.0.0.1')).toBeNull();
    expect(t.check('10.0.0.1')).toMatchObject({ refusal: Refusal.TooManyClientsFromAddress, code: 'EUSERS', message: expect.stringMatching(/^too many clients from 10\.0\.0\.1 \(1 connected, the limit per address\)/) });
    expect(t.size).toBe(1); // check() takes nothing
    expect(t.take('10.0.0.2')).toBeNull();
    expect(t.take('10.0.0.3')).toBeNull();
    expect(t.take('10.0.0.4')).toMatchObject({ refusal: Refusal.TooManyClients, code: 'EUSERS', message: expect.stringMatching(/^too many clients \(3 connected, the limit\): try another node or later$/) });
  });

  it('rejects limits that are not positive integers', () => {
    expect(() => new SlotTable('client', 0, 1)).toThrow(/positive integer/);
    expect(() => new SlotTable('handshake', 4, 1.5)).toThrow(/per-address handshake limit/);
  });
});

describe('refusal codes', () => {
  it('maps every refusal to the code a client reports', () => {
    expect(refusalCode(Refusal.TooManyHandshakes)).toBe('EAGAIN');
    expect(refusalCode(Refusal.TooManyHandshakesFromAddress)).toBe('EAGAIN');
    expect(refusalCode(Refusal.TooManyClients)).toBe('EUSERS');
    expect(refusalCode(Refusal.TooManyClientsFromAddress)).toBe('EUSERS');
    expect(refusalCode(Refusal.HandshakeTimeout)).toBe('ETIMEDOUT');
    expect(refusalCode(Refusal.AuthFailed)).toBe('EAUTH');
    expect(refusalCode(Refusal.Unspecified)).toBe('');
    expect(refusalCode(99)).toBe('');
    expect(refusalOf('EAUTH')).toBe(Refusal.AuthFailed);
    expect(refusalOf('EPROTO')).toBe(Refusal.Unspecified);
  });
});

describe('WarnLimiter', () => {
  it('lets the first few warnings per key through, then sums up the rest once per interval', () => {
    const l = new WarnLimiter(1000, 3);
    const warned = Array.from({ length: 10 }, (_, i) => l.admit('10.0.0.9', i % 2 ? 'EAUTH' : 'EPROTO', `reason ${i}`, i));
    expect(warned).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(l.admit('10.0.0.8', 'EAUTH', 'another address', 10)).toBe(true); // keys are separate
    expect(l.drain(999)).toEqual([]); // not before the interval is up
    expect(l.drain(1000)).toEqual([{ key: '10.0.0.9', suppressed: 7, seconds: 1, codes: { EAUTH: 4, EPROTO: 3 }, last: 'reason 9' }]);
    // Still noisy: the next ones are only counted, and summed up an interval later.
    expect(l.admit('10.0.0.9', 'EAUTH', 'again', 1500)).toBe(false);
    expect(l.drain(1600)).toEqual([]);
    expect(l.drain(2000)).toMatchObject([{ key: '10.0.0.9', suppressed: 1, codes: { EAUTH: 1 } }]);
    // A whole interval without any: forgotten, so the next one is a warning again.
    expect(l.drain(3000)).toEqual([]);
    expect(l.admit('10.0.0.9', 'EAUTH', 'after a quiet interval', 3001)).toBe(true);
  });

  it('remembers a bounded number of keys', () => {
    const l = new WarnLimiter(1000, 1, 100);
    for (let i = 0; i < 1000; i++) {
      l.admit(`k${i}`, 'EAGAIN', 'x', 0);
      l.admit(`k${i}`, 'EAGAIN', 'x', 0); // one warning suppressed for every key
    }
    const due = l.drain(1000);
    expect(due).toHaveLength(100); // the newest keys; the oldest were let go
    expect(due[0]!.key).toBe('k900');
  });
});
