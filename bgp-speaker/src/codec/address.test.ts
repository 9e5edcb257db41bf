import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AFI_IPV4, AFI_IPV6, formatIPv6, parseIPv4, parseIPv6, prefixToWire } from './address.js';

describe('addresses and prefixes', () => {
  it.each([
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
    ['2001:0:0:1::1', '20010000000000010000000000000001'],
    ['::ffff:127.0.0.4', '00000000000000000000ffff7f000004'],
  ])('formats %s as RFC 5952 says', (text, hex) => {
    expect(formatIPv6(Uint8Array.from(Buffer.from(hex, 'hex')))).toBe(text);
  });

  it('IPv6 text round-trips through bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(parseIPv6(formatIPv6(b))).toEqual(b);
      }),
    );
  });

  it.each(['10.0.0', '10.0.0.256', '10.0.0.0.1', 'a.b.c.d', ''])('rejects %j as IPv4', (text) => {
    expect(parseIPv4(text)).toBeNull();
  });

  it.each(['10.0.0.0/33', '10.0.0/8', '10.0.0.0', '10.0.0.0/', '10.0.0.0/8x', '300.0.0.0/8'])('encoding %j is a caller bug (TypeError)', (text) => {
    expect(() => prefixToWire(AFI_IPV4, text)).toThrow(TypeError);
  });

  it('clears host bits when encoding', () => {
    expect(prefixToWire(AFI_IPV4, '10.1.2.255/25')).toEqual(Uint8Array.of(25, 10, 1, 2, 128));
    expect(prefixToWire(AFI_IPV6, '2001:db8::/32')).toEqual(Uint8Array.of(32, 0x20, 0x01, 0x0d, 0xb8));
  });
});
