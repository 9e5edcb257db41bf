/**
 * The shape every path attribute shares: one descriptor per attribute with
 * its code, RFC name, flags, value codec and RFC 7606 error action, as BIRD's
 * bgp_attr_table. update.ts walks the table; no attribute is a `case` there.
 */
import type { CodecContext } from '../context.js';
import type { ByteWriter } from '../writer.js';

export const AttrFlag = {
  Optional: 0x80,
  Transitive: 0x40,
  Partial: 0x20,
  ExtendedLength: 0x10,
} as const;

export const AttrCode = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

/** RFC 7606 §2 approaches, weakest first. */
export type ErrorActionKind = 'attribute-discard' | 'treat-as-withdraw' | 'session-reset';
export const ERROR_ACTION_RANK: Record<ErrorActionKind, number> = {
  'attribute-discard': 1,
  'treat-as-withdraw': 2,
  'session-reset': 3,
};

export type Origin = 'IGP' | 'EGP' | 'INCOMPLETE';
export type AsPathSegmentType = 'AS_SET' | 'AS_SEQUENCE' | 'AS_CONFED_SEQUENCE' | 'AS_CONFED_SET';
export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  readonly asns: readonly number[];
}
export interface Aggregator {
  readonly asn: number;
  readonly address: string;
}
export interface LargeCommunity {
  readonly globalAdministrator: number;
  readonly localData1: number;
  readonly localData2: number;
}
export interface MpReachNlri {
  readonly afi: number;
  readonly safi: number;
  /** One address, or for IPv6 the global address then the link-local one (RFC 2545). */
  readonly nextHops: readonly string[];
  readonly nlri: readonly string[];
}
export interface MpUnreachNlri {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly string[];
}
/** An attribute we do not understand, passed on (optional transitive, Partial set). */
export interface UnknownAttribute {
  readonly code: number;
  /** Optional|Transitive|Partial; ExtendedLength is decided when encoding. */
  readonly flags: number;
  readonly value: Uint8Array;
}

/**
 * The attributes of one UPDATE as the RIB sees them. AS4_PATH and
 * AS4_AGGREGATOR never appear here: they are merged into asPath and
 * aggregator on decode and produced again on encode for 2-octet peers.
 */
export interface PathAttributes {
  origin?: Origin;
  asPath?: readonly AsPathSegment[];
  nextHop?: string;
  multiExitDisc?: number;
  localPref?: number;
  atomicAggregate?: true;
  aggregator?: Aggregator;
  /** RFC 1997: each community as a 32-bit number (high 16 bits the ASN). */
  communities?: readonly number[];
  originatorId?: string;
  clusterList?: readonly string[];
  mpReachNlri?: MpReachNlri;
  mpUnreachNlri?: MpUnreachNlri;
  largeCommunities?: readonly LargeCommunity[];
  unknown?: readonly UnknownAttribute[];
  /**
   * Type codes of known optional transitive attributes that arrived with the
   * Partial bit set (some speaker on the path did not understand them); it is
   * set again when they are sent on (RFC 4271 §5). Ascending, present attributes only.
   */
  partialCodes?: readonly number[];
}

/** The attributes as they are on the wire (adds the RFC 6793 transition attributes). */
export interface WireAttributes extends Omit<PathAttributes, 'unknown' | 'partialCodes'> {
  as4Path?: readonly AsPathSegment[];
  as4Aggregator?: Aggregator;
}
export type AttributeKey = keyof WireAttributes;

export type AttrDecodeResult<V> =
  | { readonly ok: true; readonly value: V }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Overrides the descriptor's `onMalformed` (e.g. an unsupported AFI is discarded, not withdrawn). */
      readonly action?: ErrorActionKind;
      readonly subcode?: number;
    };

export interface AttributeDescriptor<K extends AttributeKey> {
  readonly code: number;
  /** The RFC's name, e.g. "MULTI_EXIT_DISC". */
  readonly name: string;
  /** Optional and Transitive bits as the RFC specifies them. */
  readonly flags: number;
  readonly key: K;
  /** RFC 7606 approach for a malformed value. */
  readonly onMalformed: ErrorActionKind;
  /** RFC 7606 approach when Optional/Transitive conflict with `flags` (§3.c: treat-as-withdraw unless the attribute says otherwise). */
  readonly onFlagsError: ErrorActionKind;
  /** UPDATE Message Error subcode for a malformed value (what a session reset would send). */
  readonly malformedSubcode: number;
  decode(value: Uint8Array, ctx: CodecContext): AttrDecodeResult<NonNullable<WireAttributes[K]>>;
  encode(w: ByteWriter, value: NonNullable<WireAttributes[K]>, ctx: CodecContext): void;
  /** Non-null when this attribute must be discarded for this peer (RFC 7606 §7.5, §7.9–7.10; RFC 6793 §4.1). */
  isUnwelcome?(ctx: CodecContext): string | null;
}

export const WELL_KNOWN_TRANSITIVE = AttrFlag.Transitive;
export const OPTIONAL_TRANSITIVE = AttrFlag.Optional | AttrFlag.Transitive;
export const OPTIONAL_NON_TRANSITIVE = AttrFlag.Optional;

export function ok<V>(value: V): AttrDecodeResult<V> {
  return { ok: true, value };
}

export function malformed<V>(reason: string, extra: { action?: ErrorActionKind; subcode?: number } = {}): AttrDecodeResult<V> {
  return { ok: false, reason, ...extra };
}

export function u32At(b: Uint8Array, off: number): number {
  return (b[off] as number) * 0x1000000 + (((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number));
}
