import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  intersectRanges,
  mergeRanges,
  rangeAsCidr,
  subtractRanges,
  type AddressRange,
  type Cidr,
  cidrAddress,
  cidrContains,
  cidrContainsIp,
  cidrSize,
  cidrsOverlap,
  compareCidrs,
  formatCidr,
  formatIp,
  hostCidr,
  type IpFamily,
  maxPrefixLength,
  mergeCidrs,
  parseCidr,
  parseIp,
  subnets,
} from './cidr.js';

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (c === null) throw new Error(`bad test CIDR ${text}`);
  return { family: c.family, network: c.network, prefixLength: c.prefixLength };
}

const familyArb = fc.constantFrom<IpFamily>(4, 6);
const ipArb = familyArb.chain((family) =>
  fc.bigInt({ min: 0n, max: (1n << BigInt(maxPrefixLength(family))) - 1n }).map((value) => ({ family, value })),
);
/** Addresses with many zero groups, so IPv6 compression is exercised. */
const sparseIpv6Arb = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => ({ family: 6 as const, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) }));
const cidrArb: fc.Arbitrary<Cidr> = ipArb.chain(({ family, value }) =>
  fc.integer({ min: 0, max: maxPrefixLength(family) }).map((prefixLength) => cidr(`${formatIp(family, value)}/${prefixLength}`)),
);

describe('parseIp', () => {
  it.each<[string, IpFamily, bigint]>([
    ['0.0.0.0', 4, 0n],
    ['10.0.0.1', 4, 0x0a000001n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['1::', 6, 1n << 112n],
    ['fd00::1:2', 6, (0xfd00n << 112n) | (1n << 16n) | 2n],
    ['FD00:0:0:0:0:0:0:1', 6, (0xfd00n << 112n) | 1n],
    ['2001:db8:0:0:1:0:0:1', 6, 0x20010db8000000000001000000000001n],
    ['::ffff:10.0.0.1', 6, 0xffff0a000001n],
    ['::10.0.0.1', 6, 0x0a000001n],
    ['1:2:3:4:5:6:1.2.3.4', 6, 0x00010002000300040005000601020304n],
    ['0001:0002::', 6, 0x00010002n << 96n],
  ])('%s is IPv%i %s', (text, family, value) => {
    expect(parseIp(text)).toEqual({ family, value });
  });

  it.each([
    '',
    '10.0.0',
    '10.0.0.0.1',
    '10.0.0.256',
    '010.0.0.1',
    '10.0.0.1 ',
    ' 10.0.0.1',
    '10.0.0.1/32',
    '1.2.3.-1',
    ':',
    ':::',
    '1::2::3',
    ':1::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '12345::',
    'g::',
    'fe80::1%eth0',
    '[::1]',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '::ffff:1.2.3',
  ])('%j is not an address', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('property: agrees with node:net isIP on strings over the address alphabet', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 20 }), ipArb.map(({ family, value }) => formatIp(family, value))), (text) => {
        const ours = parseIp(text);
        expect(ours === null ? 0 : ours.family).toBe(isIP(text));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('formatIp', () => {
  it.each<[IpFamily, string, string]>([
    [6, '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    [6, '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    [6, '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    [6, '2001:db8:0:1:0:0:0:0', '2001:db8:0:1::'],
    [6, '2001:db8::0:1:0:0:0', '2001:db8:0:0:1::'],
    [6, '0:0:0:0:0:0:0:0', '::'],
    [6, '0:0:0:0:0:0:0:1', '::1'],
    [6, 'ABCD::EF', 'abcd::ef'],
    [6, '::ffff:0a00:0001', '::ffff:10.0.0.1'],
    [6, '::0a00:0001', '::a00:1'],
    [4, '10.0.0.1', '10.0.0.1'],
  ])('IPv%i %s is written %s', (family, text, canonical) => {
    const ip = parseIp(text);
    expect(ip?.family).toBe(family);
    expect(formatIp(family, ip!.value)).toBe(canonical);
  });

  it('throws RangeError for a value outside the family', () => {
    expect(() => formatIp(4, 1n << 32n)).toThrow(RangeError);
    expect(() => formatIp(6, -1n)).toThrow(RangeError);
  });

  it('property: parse(format(ip)) is ip, and format is a fixed point', () => {
    fc.assert(
      fc.property(fc.oneof(ipArb, sparseIpv6Arb), ({ family, value }) => {
        const text = formatIp(family, value);
        expect(parseIp(text)).toEqual({ family, value });
      }),
      { numRuns: 5000 },
    );
  });

  it('property: IPv6 text is what the WHATWG URL parser (RFC 5952 compression) writes, outside ::ffff:0:0/96', () => {
    fc.assert(
      fc.property(fc.oneof(ipArb, sparseIpv6Arb), ({ family, value }) => {
        fc.pre(family === 6 && value >> 32n !== 0xffffn);
        const text = formatIp(6, value);
        expect(`[${text}]`).toBe(new URL(`http://[${text}]/`).hostname);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseCidr and formatCidr', () => {
  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.0.0.0/8', false],
    ['10.1.2.3/8', '10.0.0.0/8', true],
    ['0.0.0.0/0', '0.0.0.0/0', false],
    ['192.168.1.7/32', '192.168.1.7/32', false],
    ['fd00::1/64', 'fd00::/64', true],
    ['FD00:0::/48', 'fd00::/48', false],
    ['::/0', '::/0', false],
    ['::1/128', '::1/128', false],
  ])('%s is %s (host bits set: %s)', (text, formatted, hostBitsSet) => {
    const c = parseCidr(text);
    expect(c?.hostBitsSet).toBe(hostBitsSet);
    expect(formatCidr(c!)).toBe(formatted);
  });

  it.each(['10.0.0.1', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8', '/8', 'fd00::/129', 'fd00::/ 64', 'x/8'])(
    '%j is not a CIDR',
    (text) => {
      expect(parseCidr(text)).toBeNull();
    },
  );

  it('property: format(parse(x)) round-trips for canonical text', () => {
    fc.assert(
      fc.property(cidrArb, (c) => {
        const text = formatCidr(c);
        expect(parseCidr(text)).toEqual({ ...c, hostBitsSet: false });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('containment', () => {
  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['10.1.0.0/16', '10.0.0.0/8', false],
    ['10.0.0.0/8', '11.0.0.0/16', false],
    ['0.0.0.0/0', '192.168.0.0/24', true],
    ['::/0', '10.0.0.0/8', false],
    ['fd00::/48', 'fd00:0:0:1::/64', true],
  ])('%s contains %s: %s', (outer, inner, expected) => {
    expect(cidrContains(cidr(outer), cidr(inner))).toBe(expected);
  });

  it('cidrContainsIp checks the family and the prefix', () => {
    const net = cidr('10.0.0.0/26');
    expect(cidrContainsIp(net, 4, parseIp('10.0.0.63')!.value)).toBe(true);
    expect(cidrContainsIp(net, 4, parseIp('10.0.0.64')!.value)).toBe(false);
    expect(cidrContainsIp(net, 6, parseIp('::a00:1')!.value)).toBe(false);
  });

  it('property: containment is a partial order and overlap is symmetric', () => {
    fc.assert(
      fc.property(cidrArb, cidrArb, (a, b) => {
        expect(cidrContains(a, a)).toBe(true);
        if (cidrContains(a, b) && cidrContains(b, a)) expect(a).toEqual(b);
        expect(cidrsOverlap(a, b)).toBe(cidrsOverlap(b, a));
        // Overlap means some address is in both: the network of the longer prefix.
        const [short, long] = a.prefixLength <= b.prefixLength ? [a, b] : [b, a];
        expect(cidrsOverlap(a, b)).toBe(short.family === long.family && cidrContainsIp(short, long.family, long.network));
      }),
      { numRuns: 3000 },
    );
  });

  it('property: a CIDR contains its first and last address, and the neighbours are outside', () => {
    fc.assert(
      fc.property(cidrArb, (c) => {
        const size = cidrSize(c);
        expect(cidrContainsIp(c, c.family, cidrAddress(c, 0n))).toBe(true);
        expect(cidrContainsIp(c, c.family, cidrAddress(c, size - 1n))).toBe(true);
        if (c.network > 0n) expect(cidrContainsIp(c, c.family, c.network - 1n)).toBe(false);
        expect(cidrContainsIp(c, c.family, c.network + size)).toBe(false); // also past the last address of the family
      }),
      { numRuns: 2000 },
    );
  });
});

describe('sizes, offsets and subnets', () => {
  it('cidrSize counts addresses', () => {
    expect(cidrSize(cidr('10.0.0.0/26'))).toBe(64n);
    expect(cidrSize(cidr('0.0.0.0/0'))).toBe(1n << 32n);
    expect(cidrSize(cidr('fd00::/122'))).toBe(64n);
    expect(cidrSize(cidr('::/0'))).toBe(1n << 128n);
  });

  it('cidrAddress adds an offset and refuses one outside the CIDR', () => {
    const block = cidr('10.0.1.0/26');
    expect(formatIp(4, cidrAddress(block, 5n))).toBe('10.0.1.5');
    expect(() => cidrAddress(block, 64n)).toThrow(RangeError);
    expect(() => cidrAddress(block, -1n)).toThrow(RangeError);
  });

  it('subnets splits a pool into blocks in address order', () => {
    expect([...subnets(cidr('10.0.0.0/24'), 26)].map(formatCidr)).toEqual([
      '10.0.0.0/26',
      '10.0.0.64/26',
      '10.0.0.128/26',
      '10.0.0.192/26',
    ]);
    expect([...subnets(cidr('fd00::/120'), 120)].map(formatCidr)).toEqual(['fd00::/120']);
    expect(() => [...subnets(cidr('10.0.0.0/24'), 23)]).toThrow(RangeError);
    expect(() => [...subnets(cidr('10.0.0.0/24'), 33)]).toThrow(RangeError);
  });

  it('subnets is lazy, so a /8 split into /32s can be started', () => {
    const it = subnets(cidr('10.0.0.0/8'), 32);
    expect(formatCidr(it.next().value as Cidr)).toBe('10.0.0.0/32');
  });

  it('hostCidr is the /32 or /128 of one address', () => {
    expect(formatCidr(hostCidr(4, parseIp('10.0.0.7')!.value))).toBe('10.0.0.7/32');
    expect(formatCidr(hostCidr(6, 1n))).toBe('::1/128');
  });

  it('property: subnets tile their parent exactly', () => {
    fc.assert(
      fc.property(cidrArb, fc.integer({ min: 0, max: 4 }), (c, extra) => {
        const len = Math.min(maxPrefixLength(c.family), c.prefixLength + extra);
        const parts = [...subnets(c, len)];
        expect(BigInt(parts.length) * cidrSize(parts[0]!)).toBe(cidrSize(c));
        for (const p of parts) expect(cidrContains(c, p)).toBe(true);
        expect(mergeCidrs(parts)).toEqual([c]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('mergeCidrs', () => {
  it.each<[string[], string[]]>([
    [[], []],
    [['10.0.0.0/26', '10.0.0.64/26'], ['10.0.0.0/25']],
    [['10.0.0.64/26', '10.0.0.0/26', '10.0.0.128/25'], ['10.0.0.0/24']],
    [['10.0.0.0/24', '10.0.0.64/26'], ['10.0.0.0/24']],
    [['10.0.0.64/26', '10.0.0.128/26'], ['10.0.0.64/26', '10.0.0.128/26']],
    [['10.0.0.0/26', '10.0.0.128/26'], ['10.0.0.0/26', '10.0.0.128/26']],
    [['10.0.0.0/26', '10.0.0.64/26', '10.0.0.128/26'], ['10.0.0.0/25', '10.0.0.128/26']],
    [['fd00::40/122', 'fd00::/122', '10.0.0.0/32'], ['10.0.0.0/32', 'fd00::/121']],
    [['0.0.0.0/1', '128.0.0.0/1'], ['0.0.0.0/0']],
    [['10.0.0.0/8', '10.0.0.0/8'], ['10.0.0.0/8']],
  ])('%j → %j', (input, output) => {
    expect(mergeCidrs(input.map(cidr)).map(formatCidr)).toEqual(output);
  });

  /** Small CIDRs inside one /20 so that merges happen often. */
  const nearbyCidrArb: fc.Arbitrary<Cidr> = fc
    .record({ offset: fc.integer({ min: 0, max: 4095 }), prefixLength: fc.integer({ min: 22, max: 32 }) })
    .map(({ offset, prefixLength }) => cidr(`${formatIp(4, 0x0a000000n + BigInt(offset))}/${prefixLength}`));

  it('property: the result covers exactly the same addresses, sorted, disjoint and unmergeable', () => {
    fc.assert(
      fc.property(fc.array(nearbyCidrArb, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 30 }), (input, probes) => {
        const merged = mergeCidrs(input);
        for (const p of probes) {
          const v = 0x0a000000n + BigInt(p);
          expect(merged.some((c) => cidrContainsIp(c, 4, v))).toBe(input.some((c) => cidrContainsIp(c, 4, v)));
        }
        const total = merged.reduce((n, c) => n + cidrSize(c), 0n);
        const covered = new Set<bigint>();
        for (const c of input) for (let i = 0n; i < cidrSize(c); i++) covered.add(c.network + i);
        expect(total).toBe(BigInt(covered.size));
        for (let i = 1; i < merged.length; i++) {
          const [a, b] = [merged[i - 1]!, merged[i]!];
          expect(compareCidrs(a, b)).toBeLessThan(0);
          expect(cidrsOverlap(a, b)).toBe(false);
          // Two equal-size siblings of one parent would have been merged.
          const siblings = a.prefixLength === b.prefixLength && a.prefixLength > 0 && mergeCidrs([a, b]).length === 1;
          expect(siblings).toBe(false);
        }
        expect(mergeCidrs(merged)).toEqual(merged);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('address ranges', () => {
  // Small IPv4 values, so a brute force over every address can check the set algebra.
  const rangeArb = fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 15 })).map(([first, len]): AddressRange => ({ family: 4, first: BigInt(first), last: BigInt(first + len) }));
  const members = (ranges: readonly AddressRange[]) => {
    const out = new Set<number>();
    for (const r of ranges) for (let v = Number(r.first); v <= Number(r.last); v++) out.add(v);
    return out;
  };
  const isMerged = (ranges: readonly AddressRange[]) => ranges.every((r, i) => r.first <= r.last && (i === 0 || ranges[i - 1]!.last + 1n < r.first));

  it('merge, intersect and subtract hold exactly the addresses of the set operation, merged', () => {
    fc.assert(
      fc.property(fc.array(rangeArb, { maxLength: 6 }), fc.array(rangeArb, { maxLength: 6 }), (xs, ys) => {
        const a = mergeRanges(xs);
        const b = mergeRanges(ys);
        const [ma, mb] = [members(xs), members(ys)];
        expect(isMerged(a)).toBe(true);
        expect(members(a)).toEqual(ma);
        const both = intersectRanges(a, b);
        expect(members(both)).toEqual(new Set([...ma].filter((v) => mb.has(v))));
        const rest = subtractRanges(a, b);
        expect(isMerged(rest)).toBe(true);
        expect(members(rest)).toEqual(new Set([...ma].filter((v) => !mb.has(v))));
      }),
    );
  });

  it('a range is a CIDR only when it is aligned and a power of two long', () => {
    expect(rangeAsCidr({ family: 4, first: 8n, last: 15n })).toEqual({ family: 4, network: 8n, prefixLength: 29 });
    expect(rangeAsCidr({ family: 4, first: 4n, last: 11n })).toBeNull();
    expect(rangeAsCidr({ family: 4, first: 5n, last: 7n })).toBeNull();
    expect(rangeAsCidr({ family: 6, first: 0n, last: (1n << 128n) - 1n })).toEqual({ family: 6, network: 0n, prefixLength: 0 });
  });
});
