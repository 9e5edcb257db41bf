/**
 * IPv4/IPv6 addresses and prefixes as canonical text ("10.0.0.0/26",
 * "2001:db8::/32", RFC 5952 for IPv6) and their NLRI wire form (RFC 4271
 * §4.3: length in bits, then the fewest octets that hold it). Text is what the
 * RIB keys on; host bits beyond the length are always zero in decoded text.
 */
import type { ByteReader } from './reader.js';
import type { ByteWriter } from './writer.js';

export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

export type Afi = number;

export function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** Parses dotted-quad text into 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

export function formatIPv6(b: Uint8Array, off = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number));
  // RFC 5952 §4.2: compress the longest run (>= 2) of zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  // RFC 5952 §5: IPv4-mapped addresses end in dotted quad (as iproute2 prints them).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIPv4(b, off + 12)}`;
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/** Parses IPv6 text (hex groups with at most one "::") into 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  const dotted = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted !== null) {
    const v4 = parseIPv4(dotted[2] as string);
    if (v4 === null) return null;
    const hi = ((v4[0] as number) << 8) | (v4[1] as number);
    const lo = ((v4[2] as number) << 8) | (v4[3] as number);
    return parseIPv6(`${dotted[1]}${hi.toString(16)}:${lo.toString(16)}`);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] as string);
  const tail = halves.length === 2 ? parseGroups(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function addressBytes(afi: Afi): number {
  return afi === AFI_IPV6 ? 16 : 4;
}

export function formatAddress(afi: Afi, b: Uint8Array, off = 0): string {
  return afi === AFI_IPV6 ? formatIPv6(b, off) : formatIPv4(b, off);
}

export function parseAddress(afi: Afi, text: string): Uint8Array | null {
  return afi === AFI_IPV6 ? parseIPv6(text) : parseIPv4(text);
}

/** Why a prefix could not be read; the caller maps it to its RFC 7606 action. */
export class PrefixError extends Error {
  override readonly name = 'PrefixError';
}

/** Reads one NLRI prefix. Throws PrefixError or ReadOverrun, caught by the caller. */
export function readPrefix(r: ByteReader, afi: Afi): string {
  const bits = afi === AFI_IPV6 ? 128 : 32;
  const length = r.u8();
  if (length > bits) throw new PrefixError(`prefix length ${length} > ${bits}`);
  const n = (length + 7) >> 3;
  const raw = r.bytes(n);
  const addr = new Uint8Array(bits >> 3);
  addr.set(raw);
  if (length & 7) addr[n - 1] = (addr[n - 1] as number) & (0xff << (8 - (length & 7)));
  return `${formatAddress(afi, addr)}/${length}`;
}

/** Reads prefixes until the reader is empty. */
export function readPrefixes(r: ByteReader, afi: Afi): string[] {
  const out: string[] = [];
  while (!r.isAtEnd) out.push(readPrefix(r, afi));
  return out;
}

/** Fast path for "a.b.c.d/len" text: fills `out` (4 bytes), returns the length or -1. */
function parseIPv4Prefix(text: string, out: Uint8Array): number {
  let octet = 0;
  let digits = 0;
  let idx = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 /* . */ || c === 47 /* / */) {
      if (digits === 0 || idx > 3 || (c === 47) !== (idx === 3)) return -1;
      out[idx++] = octet;
      octet = 0;
      digits = 0;
      if (c === 47) {
        const lenText = text.slice(i + 1);
        if (!/^\d{1,2}$/.test(lenText)) return -1;
        const length = Number(lenText);
        return length <= 32 ? length : -1;
      }
    } else return -1;
  }
  return -1;
}

/**
 * The wire form of a prefix (length octet + address octets). Throws TypeError
 * for text that is not a prefix of this family: that is a caller's bug, not a
 * peer's bytes.
 */
export function prefixToWire(afi: Afi, prefix: string): Uint8Array {
  let addr: Uint8Array | null;
  let length: number;
  if (afi === AFI_IPV4) {
    addr = new Uint8Array(4);
    length = parseIPv4Prefix(prefix, addr);
  } else {
    const slash = prefix.indexOf('/');
    addr = slash < 0 ? null : parseAddress(afi, prefix.slice(0, slash));
    const lenText = slash < 0 ? '' : prefix.slice(slash + 1);
    length = /^\d{1,3}$/.test(lenText) ? Number(lenText) : -1;
  }
  if (addr === null || length < 0 || length > addr.length * 8) {
    throw new TypeError(`not an ${afi === AFI_IPV6 ? 'IPv6' : 'IPv4'} prefix: ${JSON.stringify(prefix)}`);
  }
  const n = (length + 7) >> 3;
  const out = new Uint8Array(1 + n);
  out[0] = length;
  out.set(addr.subarray(0, n), 1);
  if (length & 7) out[n] = (out[n] as number) & (0xff << (8 - (length & 7)));
  return out;
}

/** Bytes a prefix takes in NLRI: the length octet and ceil(length / 8) address octets. */
export function prefixWireLength(prefix: string): number {
  let length = 0;
  let scale = 1;
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c === 47 /* / */) break;
    length += (c - 48) * scale;
    scale *= 10;
  }
  return 1 + ((length + 7) >> 3);
}

const scratch4 = new Uint8Array(4); // reused by writePrefixes; the codec is synchronous

export function writePrefixes(w: ByteWriter, afi: Afi, prefixes: readonly string[]): void {
  if (afi !== AFI_IPV4) {
    for (const p of prefixes) w.bytes(prefixToWire(afi, p));
    return;
  }
  for (const p of prefixes) {
    const length = parseIPv4Prefix(p, scratch4);
    if (length < 0) throw new TypeError(`not an IPv4 prefix: ${JSON.stringify(p)}`);
    w.u8(length);
    const n = (length + 7) >> 3;
    for (let i = 0; i < n; i++) {
      const b = scratch4[i] as number;
      w.u8(i === n - 1 && length & 7 ? b & (0xff << (8 - (length & 7))) : b);
    }
  }
}

export function writeAddress(w: ByteWriter, afi: Afi, text: string): void {
  const b = parseAddress(afi, text);
  if (b === null) throw new TypeError(`not an ${afi === AFI_IPV6 ? 'IPv6' : 'IPv4'} address: ${JSON.stringify(text)}`);
  w.bytes(b);
}
