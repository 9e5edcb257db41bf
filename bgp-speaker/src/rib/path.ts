/**
 * A path: one route to one prefix, as received from a peer or originated by
 * this speaker. Paths are immutable values; every RIB holds them by prefix
 * (canonical text from the codec, "10.0.0.0/26", "2001:db8::/64").
 *
 * The next hop lives beside the attributes, not in them, so IPv4 (NEXT_HOP)
 * and IPv6 (MP_REACH_NLRI) paths look alike; `attributes` never holds
 * nextHop, mpReachNlri or mpUnreachNlri.
 */
import { AFI_IPV4, AFI_IPV6, type PathAttributes } from '../codec/index.js';

/** The peer a path was learned from: what the decision process and export rules need to know of it. */
export interface PeerRef {
  /** Transport address of the peer; the tie-breaker of last resort and the Adj-RIB key. */
  readonly address: string;
  readonly asn: number;
  /** BGP Identifier from the peer's OPEN (dotted quad). */
  readonly routerId: string;
  /** iBGP: the peer is in our own AS. */
  readonly isInternal: boolean;
  /** RFC 4456: we reflect for this peer (only meaningful when isInternal). */
  readonly isRouteReflectorClient: boolean;
}

export interface Path {
  readonly prefix: string;
  /** IPv4 NEXT_HOP, or the IPv6 global next hop of MP_REACH_NLRI. */
  readonly nextHop: string;
  /** RFC 2545: the IPv6 link-local next hop, when the peer sent one. */
  readonly linkLocalNextHop?: string | undefined;
  readonly attributes: PathAttributes;
  /** null: originated by this speaker (blocks, service IPs). */
  readonly peer: PeerRef | null;
  /** RFC 4724: kept across the peer's restart until End-of-RIB or the restart timer. */
  readonly isStale: boolean;
}

/** LOCAL_PREF assumed when a path carries none (eBGP-learned and originated paths). */
export const DEFAULT_LOCAL_PREF = 100;

export function prefixAfi(prefix: string): number {
  return prefix.includes(':') ? AFI_IPV6 : AFI_IPV4;
}

/** The attributes a path may carry: everything but the next hop and the MP reach/unreach containers. */
export function pathAttributesOf(attributes: PathAttributes): PathAttributes {
  const { nextHop: _nh, mpReachNlri: _reach, mpUnreachNlri: _unreach, ...rest } = attributes;
  return rest;
}

function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/**
 * A string equal for two attribute sets exactly when they would encode the
 * same (key order and undefined members do not matter). Used to group
 * prefixes into one UPDATE and to tell a real change from a repeat.
 */
export function attributesKey(attributes: PathAttributes, nextHop: string, linkLocalNextHop?: string): string {
  return JSON.stringify([nextHop, linkLocalNextHop ?? null, canonical(attributes)]);
}

/** Same route from the same source, whatever the stale mark says. */
export function isSamePath(a: Path | null | undefined, b: Path | null | undefined): boolean {
  if (a === b) return true;
  if (a == null || b == null) return false;
  return (
    a.prefix === b.prefix &&
    (a.peer?.address ?? null) === (b.peer?.address ?? null) &&
    attributesKey(a.attributes, a.nextHop, a.linkLocalNextHop) === attributesKey(b.attributes, b.nextHop, b.linkLocalNextHop)
  );
}
