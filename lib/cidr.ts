/**
 * IPv4 and IPv6 addresses and CIDRs as bigints: parsing, RFC 5952 formatting,
 * containment, subnetting and aggregation. Pure, no dependencies; shared by
 * IPAM (blocks in pools), the BGP speaker (announced and aggregated prefixes)
 * and the policy agent (nets / notNets sets).
 *
 * Absent or invalid input is a value (null), never an exception; a RangeError
 * is thrown only for calls that are bugs (an offset outside the CIDR, a
 * prefix length outside the family).
 */

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** The first address, with every host bit clear. */
  network: bigint;
  prefixLength: number;
}

export function maxPrefixLength(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

const ALL_ONES: Record<IpFamily, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

/** The netmask of a prefix length, as an address value. */
export function prefixMask(family: IpFamily, prefixLength: number): bigint {
  const hostBits = BigInt(maxPrefixLength(family) - prefixLength);
  return ALL_ONES[family] ^ ((1n << hostBits) - 1n);
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    // Leading zeros are refused: some tools read them as octal (CVE-2021-29921).
    if (!DECIMAL_OCTET.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** Groups of one side of `::`, with an optional dotted IPv4 tail; null if malformed. */
function parseGroups(text: string, allowIpv4Tail: boolean): bigint[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: bigint[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i === parts.length - 1 && allowIpv4Tail && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else {
      if (!HEX_GROUP.test(part)) return null;
      groups.push(BigInt(parseInt(part, 16)));
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  let groups: bigint[];
  if (halves.length === 1) {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | g;
  return value;
}

/** Parses a bare IPv4 or IPv6 address (no zone, no brackets, no prefix). */
export function parseIp(text: string): { family: IpFamily; value: bigint } | null {
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === null ? null : { family: 6, value };
  }
  const value = parseIpv4(text);
  return value === null ? null : { family: 4, value };
}

function checkValue(family: IpFamily, value: bigint): void {
  if (value < 0n || value > ALL_ONES[family]) {
    throw new RangeError(`${value} is not an IPv${family} address value`);
  }
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/**
 * IPv4 dotted quad, or IPv6 in RFC 5952 canonical form: lower case, no
 * leading zeros, the longest run (first if tied) of two or more zero groups
 * as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d` (§5).
 */
export function formatIp(family: IpFamily, value: bigint): string {
  checkValue(family, value);
  if (family === 4) return formatIpv4(value);
  if (value >> 32n === 0xffffn) return `::ffff:${formatIpv4(value & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses `address/prefixLength`. The network is masked; `hostBitsSet` says
 * whether the text had host bits (10.0.0.1/24), which callers may refuse or
 * accept. A bare address is not a CIDR: null.
 */
export function parseCidr(text: string): (Cidr & { hostBitsSet: boolean }) | null {
  const slash = text.indexOf('/');
  if (slash === -1) return null;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === null || !PREFIX_LENGTH.test(prefixText)) return null;
  const prefixLength = Number(prefixText);
  if (prefixLength > maxPrefixLength(ip.family)) return null;
  const network = ip.value & prefixMask(ip.family, prefixLength);
  return { family: ip.family, network, prefixLength, hostBitsSet: network !== ip.value };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.network)}/${c.prefixLength}`;
}

/** The /32 or /128 holding exactly one address. */
export function hostCidr(family: IpFamily, value: bigint): Cidr {
  checkValue(family, value);
  return { family, network: value, prefixLength: maxPrefixLength(family) };
}

export function cidrContainsIp(c: Cidr, family: IpFamily, value: bigint): boolean {
  if (value < 0n || value > ALL_ONES[family]) return false;
  return c.family === family && (value & prefixMask(family, c.prefixLength)) === (c.network & prefixMask(family, c.prefixLength));
}

/** True when every address of `inner` is in `outer` (a CIDR contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefixLength <= inner.prefixLength && cidrContainsIp(outer, inner.family, inner.network);
}

/** CIDRs either nest or are disjoint, so they overlap exactly when one contains the other. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Number of addresses in the CIDR. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(maxPrefixLength(c.family) - c.prefixLength);
}

/** The address `offset` places after the network address; RangeError outside the CIDR. */
export function cidrAddress(c: Cidr, offset: bigint): bigint {
  if (offset < 0n || offset >= cidrSize(c)) {
    throw new RangeError(`offset ${offset} is outside ${formatCidr(c)} (size ${cidrSize(c)})`);
  }
  return (c.network & prefixMask(c.family, c.prefixLength)) + offset;
}

/** Every subnet of `c` with the given (longer or equal) prefix length, in address order. */
export function* subnets(c: Cidr, prefixLength: number): Generator<Cidr> {
  if (!Number.isInteger(prefixLength) || prefixLength < c.prefixLength || prefixLength > maxPrefixLength(c.family)) {
    throw new RangeError(`cannot split ${formatCidr(c)} into /${prefixLength} subnets`);
  }
  const base = c.network & prefixMask(c.family, c.prefixLength);
  const step = 1n << BigInt(maxPrefixLength(c.family) - prefixLength);
  const count = 1n << BigInt(prefixLength - c.prefixLength);
  for (let i = 0n; i < count; i++) {
    yield { family: c.family, network: base + i * step, prefixLength };
  }
}

/** Orders IPv4 before IPv6, then by network, then shorter prefix first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.prefixLength - b.prefixLength;
}

/**
 * The smallest set of CIDRs covering exactly the addresses of the input:
 * contained CIDRs are dropped and adjacent ones merged (10.0.0.0/26 and
 * 10.0.0.64/26 become 10.0.0.0/25). Sorted by compareCidrs. Used to
 * aggregate a node's blocks before announcing them over BGP.
 */
export function mergeCidrs(cidrs: readonly Cidr[]): Cidr[] {
  return mergeRanges(cidrs.map(cidrRange)).flatMap((r) => rangeToCidrs(r.family, r.first, r.last));
}

/**
 * An inclusive run of addresses of one family. Sets of addresses that are
 * not CIDRs (an ipBlock minus its excepts, the union of several peers) are
 * lists of ranges: sorted, disjoint and never adjacent once merged.
 */
export interface AddressRange {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
}

export function cidrRange(c: Cidr): AddressRange {
  const first = c.network & prefixMask(c.family, c.prefixLength);
  return { family: c.family, first, last: first + cidrSize(c) - 1n };
}

/** Every address of the family. */
export function familyRange(family: IpFamily): AddressRange {
  return { family, first: 0n, last: ALL_ONES[family] };
}

/** Ranges sorted (IPv4 first), overlapping and adjacent ones merged: one spelling for one set of addresses. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: { family: IpFamily; first: bigint; last: bigint }[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.family === r.family && r.first <= prev.last + 1n) {
      if (r.last > prev.last) prev.last = r.last;
    } else {
      out.push({ family: r.family, first: r.first, last: r.last });
    }
  }
  return out;
}

/** Addresses in both (inputs merged, as mergeRanges returns them). */
export function intersectRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x.family !== y.family) {
      if (x.family < y.family) i++;
      else j++;
      continue;
    }
    const first = x.first > y.first ? x.first : y.first;
    const last = x.last < y.last ? x.last : y.last;
    if (first <= last) out.push({ family: x.family, first, last });
    if (x.last < y.last) i++;
    else j++;
  }
  return out;
}

/** Addresses of `a` that are not in `b` (inputs merged, as mergeRanges returns them). */
export function subtractRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  for (const r of a) {
    let first = r.first;
    let done = false;
    for (const cut of b) {
      if (cut.family !== r.family || cut.last < first) continue;
      if (cut.first > r.last) break;
      if (cut.first > first) out.push({ family: r.family, first, last: cut.first - 1n });
      if (cut.last >= r.last) {
        done = true;
        break;
      }
      first = cut.last + 1n;
    }
    if (!done) out.push({ family: r.family, first, last: r.last });
  }
  return out;
}

/** The CIDR holding exactly the range's addresses, or null when the range is not one. */
export function rangeAsCidr(r: AddressRange): Cidr | null {
  const size = r.last - r.first + 1n;
  if ((size & (size - 1n)) !== 0n) return null;
  const hostBits = size.toString(2).length - 1;
  const c: Cidr = { family: r.family, network: r.first, prefixLength: maxPrefixLength(r.family) - hostBits };
  return (r.first & prefixMask(r.family, c.prefixLength)) === r.first ? c : null;
}

/** The minimal CIDRs covering [start, end] exactly. */
function rangeToCidrs(family: IpFamily, start: bigint, end: bigint): Cidr[] {
  const bits = maxPrefixLength(family);
  const out: Cidr[] = [];
  let cur = start;
  while (cur <= end) {
    // Largest aligned block starting at cur that does not pass end.
    let hostBits = 0;
    while (hostBits < bits) {
      const size = 1n << BigInt(hostBits + 1);
      if (cur % size !== 0n || cur + size - 1n > end) break;
      hostBits++;
    }
    out.push({ family, network: cur, prefixLength: bits - hostBits });
    cur += 1n << BigInt(hostBits);
  }
  return out;
}
