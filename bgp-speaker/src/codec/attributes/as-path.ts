/**
 * AS_PATH (RFC 4271 §5.1.2; 2- or 4-octet ASNs by RFC 6793) and AS4_PATH
 * (RFC 6793), plus the §4.2.3 merge for paths from 2-octet-only peers.
 * Malformed AS_PATH → treat-as-withdraw (RFC 7606 §7.2); malformed AS4_PATH
 * → attribute-discard (RFC 6793 §6).
 */
import type { CodecContext } from '../context.js';
import { UpdateMessageErrorSubcode } from '../notification.js';
import type { ByteWriter } from '../writer.js';
import {
  AttrCode,
  malformed,
  ok,
  OPTIONAL_TRANSITIVE,
  u32At,
  WELL_KNOWN_TRANSITIVE,
  type AsPathSegment,
  type AsPathSegmentType,
  type AttrDecodeResult,
  type AttributeDescriptor,
} from './descriptor.js';

export const AS_TRANS = 23456;

const SEGMENT_TYPES: Record<number, AsPathSegmentType> = {
  1: 'AS_SET',
  2: 'AS_SEQUENCE',
  3: 'AS_CONFED_SEQUENCE',
  4: 'AS_CONFED_SET',
};
const SEGMENT_CODES: Record<AsPathSegmentType, number> = {
  AS_SET: 1,
  AS_SEQUENCE: 2,
  AS_CONFED_SEQUENCE: 3,
  AS_CONFED_SET: 4,
};
const MAX_SEGMENT_ASNS = 255;

export function isConfedSegment(s: AsPathSegment): boolean {
  return s.type === 'AS_CONFED_SEQUENCE' || s.type === 'AS_CONFED_SET';
}

export function decodeAsPathSegments(value: Uint8Array, asnBytes: 2 | 4): AttrDecodeResult<AsPathSegment[]> {
  const segments: AsPathSegment[] = [];
  let p = 0;
  while (p < value.length) {
    if (p + 2 > value.length) return malformed('segment header overruns the attribute');
    const type = SEGMENT_TYPES[value[p] as number];
    const count = value[p + 1] as number;
    if (type === undefined) return malformed(`segment type ${value[p]}`);
    if (count === 0) return malformed('empty segment');
    p += 2;
    if (p + count * asnBytes > value.length) return malformed('segment overruns the attribute');
    const asns: number[] = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      asns[i] = asnBytes === 4 ? u32At(value, p) : ((value[p] as number) << 8) | (value[p + 1] as number);
      p += asnBytes;
    }
    segments.push({ type, asns });
  }
  return ok(segments);
}

export function encodeAsPathSegments(w: ByteWriter, segments: readonly AsPathSegment[], asnBytes: 2 | 4): void {
  for (const seg of segments) {
    // A segment holds at most 255 ASNs; longer ones are split (same meaning for sequences).
    for (let start = 0; start < seg.asns.length || start === 0; start += MAX_SEGMENT_ASNS) {
      const chunk = seg.asns.slice(start, start + MAX_SEGMENT_ASNS);
      w.u8(SEGMENT_CODES[seg.type]).u8(chunk.length);
      for (const asn of chunk) {
        if (asnBytes === 4) w.u32(asn);
        else w.u16(asn > 0xffff ? AS_TRANS : asn);
      }
      if (seg.asns.length === 0) break;
    }
  }
}

export const AS_PATH: AttributeDescriptor<'asPath'> = {
  code: AttrCode.AS_PATH,
  name: 'AS_PATH',
  flags: WELL_KNOWN_TRANSITIVE,
  key: 'asPath',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.MalformedAsPath,
  decode(value, ctx) {
    return decodeAsPathSegments(value, ctx.hasFourOctetAs ? 4 : 2);
  },
  encode(w, value, ctx) {
    encodeAsPathSegments(w, value, ctx.hasFourOctetAs ? 4 : 2);
  },
};

export const AS4_PATH: AttributeDescriptor<'as4Path'> = {
  code: AttrCode.AS4_PATH,
  name: 'AS4_PATH',
  flags: OPTIONAL_TRANSITIVE,
  key: 'as4Path',
  onMalformed: 'attribute-discard',
  onFlagsError: 'attribute-discard',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    const r = decodeAsPathSegments(value, 4);
    // RFC 6793 §6: confederation segments in AS4_PATH make it malformed.
    if (r.ok && r.value.some(isConfedSegment)) return malformed('confederation segment in AS4_PATH');
    return r;
  },
  encode(w, value) {
    encodeAsPathSegments(w, value, 4);
  },
  isUnwelcome(ctx: CodecContext) {
    // RFC 6793 §4.1: between two 4-octet speakers AS4_PATH must not be sent and is discarded.
    return ctx.hasFourOctetAs ? 'AS4_PATH from a 4-octet-AS peer' : null;
  },
};

/** RFC 6793 §4.2.3 counting: AS_SET counts 1, confederation segments 0. */
export function countAsPath(segments: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segments) {
    if (s.type === 'AS_SEQUENCE') n += s.asns.length;
    else if (s.type === 'AS_SET') n += 1;
  }
  return n;
}

/** The length best-path selection uses (RFC 4271 §9.1.2.2 a): same counting. */
export const asPathLength = countAsPath;

/**
 * RFC 6793 §4.2.3: rebuild the 4-octet path from AS_PATH and AS4_PATH. When
 * AS_PATH holds fewer ASNs than AS4_PATH, AS4_PATH is ignored. Otherwise the
 * leading ASNs of AS_PATH that AS4_PATH lacks (and any leading confederation
 * segments) are kept, followed by AS4_PATH.
 */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): readonly AsPathSegment[] {
  const n = countAsPath(asPath);
  const m = countAsPath(as4Path);
  if (n < m) return asPath;
  let needed = n - m;
  const merged: AsPathSegment[] = [];
  for (const seg of asPath) {
    if (isConfedSegment(seg)) {
      merged.push(seg);
      continue;
    }
    if (needed === 0) break;
    if (seg.type === 'AS_SET') {
      merged.push(seg);
      needed -= 1;
    } else if (seg.asns.length <= needed) {
      merged.push(seg);
      needed -= seg.asns.length;
    } else {
      merged.push({ type: seg.type, asns: seg.asns.slice(0, needed) });
      needed = 0;
    }
  }
  return [...merged, ...as4Path];
}

/** Whether a path needs AS4_PATH when sent to a 2-octet peer. */
export function needsAs4Path(segments: readonly AsPathSegment[]): boolean {
  return segments.some((s) => s.asns.some((a) => a > 0xffff));
}
