/**
 * Adj-RIB-Out: what we last sent one peer, and `planUpdates`, which turns
 * Loc-RIB best-path changes into the UPDATEs that peer needs: export policy,
 * iBGP split horizon, route reflection (RFC 4456), the eBGP/iBGP attribute
 * rules, a diff against what was sent, and prefixes with identical
 * attributes grouped into one UPDATE.
 */
import {
  AFI_IPV4,
  AFI_IPV6,
  SAFI_UNICAST,
  splitUpdate,
  type AsPathSegment,
  type CodecContext,
  type PathAttributes,
  type Update,
} from '../codec/index.js';
import { asPathLength } from './best-path.js';
import type { LocRibChanges } from './loc-rib.js';
import type { LoopIdentity } from './loop.js';
import { attributesKey, DEFAULT_LOCAL_PREF, prefixAfi, type Path, type PeerRef } from './path.js';

/** Who we are: loop detection's identity, plus whether we reflect routes. */
export type SpeakerIdentity = LoopIdentity;

/** Export policy: true when a best path may be sent to this peer (applied before the attribute rules). */
export type ExportPolicy = (path: Path, to: PeerRef) => boolean;

/** One peer as the export side sees it. */
export interface OutPeer {
  readonly peer: PeerRef;
  /** Our own address on this session per family: the NEXT_HOP when we put ourselves there. */
  readonly localAddress: { readonly ipv4?: string | undefined; readonly ipv6?: string | undefined };
  /** Address families negotiated (RFC 4760): AFI_IPV4, AFI_IPV6. */
  readonly afis: readonly number[];
  /** iBGP: rewrite NEXT_HOP to ourselves for learned paths too (default: keep it). */
  readonly isNextHopSelf?: boolean;
  /** eBGP: keep the path's NEXT_HOP instead of ourselves (Calico's BGPPeer keepOriginalNextHop). */
  readonly keepOriginalNextHop?: boolean;
  readonly exportPolicy?: ExportPolicy;
}

/** A route as sent to one peer. */
export interface OutRoute {
  readonly prefix: string;
  readonly nextHop: string;
  readonly linkLocalNextHop?: string | undefined;
  readonly attributes: PathAttributes;
  /** attributesKey of the above: equal keys go in one UPDATE; an equal key to the last sent means no UPDATE. */
  readonly key: string;
}

export interface AnnouncementGroup {
  readonly nextHop: string;
  readonly linkLocalNextHop?: string | undefined;
  readonly attributes: PathAttributes;
  readonly prefixes: readonly string[];
}

/** The UPDATEs one peer needs, before packing into messages (see `packUpdates`). */
export interface Advertisements {
  readonly withdrawn: readonly string[];
  readonly announced: readonly AnnouncementGroup[];
}

export function isEmptyAdvertisements(a: Advertisements): boolean {
  return a.withdrawn.length === 0 && a.announced.length === 0;
}

function withoutConfederation(segments: readonly AsPathSegment[] | undefined): AsPathSegment[] {
  return (segments ?? []).filter((s) => s.type === 'AS_SEQUENCE' || s.type === 'AS_SET');
}

/** RFC 4271 §5.1.2 b: our AS goes in front, in the leading AS_SEQUENCE when there is one with room. */
export function prependAs(segments: readonly AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const path = withoutConfederation(segments);
  const first = path[0];
  if (first !== undefined && first.type === 'AS_SEQUENCE' && first.asns.length < 255) {
    return [{ type: 'AS_SEQUENCE', asns: [asn, ...first.asns] }, ...path.slice(1)];
  }
  return [{ type: 'AS_SEQUENCE', asns: [asn] }, ...path];
}

/**
 * What `best` looks like when sent to `to`, or null when it must not be sent.
 *
 * - never back to the peer it came from; only negotiated families; export policy
 * - iBGP → iBGP only when reflecting (RFC 4456 §6): from a client to every
 *   peer, from a non-client to clients only; then ORIGINATOR_ID is set if
 *   absent and our CLUSTER_ID is prepended to CLUSTER_LIST; never back to the originator
 * - to iBGP: LOCAL_PREF present (100 if absent); NEXT_HOP kept unless
 *   next-hop-self (never for reflected paths), ourselves for our own paths
 * - to eBGP: our AS prepended (confederation segments removed), NEXT_HOP
 *   ourselves unless keepOriginalNextHop, LOCAL_PREF / ORIGINATOR_ID /
 *   CLUSTER_LIST removed, MED removed unless the path began in our AS
 *   (RFC 4271 §5.1.4); not sent when the peer's AS is already in the path
 */
/** The exported form of a path without its prefix: shared by every prefix that had the same input. */
type Exported = Omit<OutRoute, 'prefix'>;

/**
 * Memo of exported forms for one (peer, identity): the prefixes of one UPDATE
 * share one attributes object, so they are transformed and keyed once and
 * their OutRoutes share one attributes object too.
 */
export type ExportCache = WeakMap<PathAttributes, Map<string, Exported | null>>;

export function exportPath(best: Path, to: OutPeer, me: SpeakerIdentity, cache?: ExportCache): OutRoute | null {
  const afi = prefixAfi(best.prefix);
  if (!to.afis.includes(afi)) return null;
  const from = best.peer;
  if (from !== null && from.address === to.peer.address) return null;
  if (to.exportPolicy !== undefined && !to.exportPolicy(best, to.peer)) return null;
  let exported: Exported | null | undefined;
  if (cache === undefined) {
    exported = exportAttributes(best, afi, to, me);
  } else {
    let byInput = cache.get(best.attributes);
    if (byInput === undefined) {
      byInput = new Map();
      cache.set(best.attributes, byInput);
    }
    const key = `${afi} ${from?.address ?? ''} ${best.nextHop} ${best.linkLocalNextHop ?? ''}`;
    exported = byInput.get(key);
    if (exported === undefined) {
      exported = exportAttributes(best, afi, to, me);
      byInput.set(key, exported);
    }
  }
  return exported === null ? null : { prefix: best.prefix, ...exported };
}

/** The attribute rules of exportPath; depends on the path's attributes, source and next hop, not its prefix. */
function exportAttributes(best: Path, afi: number, to: OutPeer, me: SpeakerIdentity): Exported | null {
  const from = best.peer;
  const self = afi === AFI_IPV6 ? to.localAddress.ipv6 : to.localAddress.ipv4;

  const attrs: { -readonly [K in keyof PathAttributes]: PathAttributes[K] } = { ...best.attributes };
  let nextHop: string | undefined = best.nextHop;
  let linkLocalNextHop = best.linkLocalNextHop;
  const useSelf = (): void => {
    nextHop = self;
    linkLocalNextHop = undefined;
  };

  if (to.peer.isInternal) {
    const isReflected = from !== null && from.isInternal;
    if (isReflected) {
      const isReflecting = from.isRouteReflectorClient || to.peer.isRouteReflectorClient;
      if (!isReflecting || me.clusterId === null) return null;
      const originator = attrs.originatorId ?? from.routerId;
      if (originator === to.peer.routerId) return null;
      attrs.originatorId = originator;
      attrs.clusterList = [me.clusterId, ...(attrs.clusterList ?? [])];
    }
    attrs.localPref ??= DEFAULT_LOCAL_PREF;
    attrs.asPath ??= [];
    // RFC 4456 §10: a reflector does not change what it reflects, next hop included.
    if (from === null || (to.isNextHopSelf === true && !isReflected)) useSelf();
  } else {
    const path = attrs.asPath ?? [];
    if (path.some((s) => s.asns.includes(to.peer.asn))) return null;
    if (from !== null && asPathLength(withoutConfederation(path)) > 0) delete attrs.multiExitDisc;
    attrs.asPath = prependAs(path, me.localAs);
    delete attrs.localPref;
    delete attrs.originatorId;
    delete attrs.clusterList;
    if (from === null || to.keepOriginalNextHop !== true) useSelf();
  }
  if (nextHop === undefined || nextHop === '') return null;
  return { nextHop, linkLocalNextHop, attributes: attrs, key: attributesKey(attrs, nextHop, linkLocalNextHop) };
}

function groupAnnouncements(routes: readonly OutRoute[]): AnnouncementGroup[] {
  const groups = new Map<string, { nextHop: string; linkLocalNextHop?: string | undefined; attributes: PathAttributes; prefixes: string[] }>();
  for (const r of routes) {
    const g = groups.get(r.key);
    if (g === undefined) groups.set(r.key, { nextHop: r.nextHop, linkLocalNextHop: r.linkLocalNextHop, attributes: r.attributes, prefixes: [r.prefix] });
    else g.prefixes.push(r.prefix);
  }
  return [...groups.values()];
}

/** The routes sent to one peer; each plan is assumed sent (a new session starts a new AdjRibOut). */
export class AdjRibOut {
  readonly #sent = new Map<string, OutRoute>();
  #cache: ExportCache = new WeakMap();
  #to: OutPeer;

  constructor(
    to: OutPeer,
    readonly me: SpeakerIdentity,
  ) {
    this.#to = to;
  }

  get to(): OutPeer {
    return this.#to;
  }

  /**
   * New export settings for the same session (export policy, next-hop
   * options): follow with `planFullTable` to send what they change.
   */
  setPeer(to: OutPeer): void {
    this.#to = to;
    this.#cache = new WeakMap();
  }

  /** Prefixes currently advertised to the peer ("prefixes sent" in node status). */
  get size(): number {
    return this.#sent.size;
  }

  sent(prefix: string): OutRoute | undefined {
    return this.#sent.get(prefix);
  }

  /** The UPDATEs for these Loc-RIB changes, only what differs from what was sent; records them as sent. */
  planUpdates(changes: LocRibChanges): Advertisements {
    const withdrawn: string[] = [];
    const announce: OutRoute[] = [];
    for (const { prefix, best } of changes.changed) {
      const route = best === null ? null : exportPath(best, this.#to, this.me, this.#cache);
      const previous = this.#sent.get(prefix);
      if (route === null) {
        if (previous !== undefined) {
          this.#sent.delete(prefix);
          withdrawn.push(prefix);
        }
      } else if (previous?.key !== route.key) {
        this.#sent.set(prefix, route);
        announce.push(route);
      }
    }
    return { withdrawn, announced: groupAnnouncements(announce) };
  }

  /**
   * Compares the whole Loc-RIB with what was sent: after `setPeer` (a new
   * export policy or next-hop setting), where any sent prefix may have to go.
   */
  planFullTable(bests: Iterable<Path>): Advertisements {
    const changed = [];
    const seen = new Set<string>();
    for (const best of bests) {
      seen.add(best.prefix);
      changed.push({ prefix: best.prefix, best });
    }
    for (const prefix of this.#sent.keys()) if (!seen.has(prefix)) changed.push({ prefix, best: null });
    return this.planUpdates({ changed });
  }

  /** Everything sent, again (RFC 2918 ROUTE-REFRESH from the peer). */
  resend(): Advertisements {
    return { withdrawn: [], announced: groupAnnouncements([...this.#sent.values()]) };
  }
}

/** The free-function form of the pure core (STYLE.md §1 table). */
export function planUpdates(changes: LocRibChanges, adjRibOut: AdjRibOut): Advertisements {
  return adjRibOut.planUpdates(changes);
}

function announcementUpdate(g: AnnouncementGroup): Update {
  // A group holds one family: its next hop (ours or kept) is of the prefixes' family.
  if (prefixAfi(g.prefixes[0] ?? g.nextHop) === AFI_IPV4) {
    return { withdrawn: [], attributes: { ...g.attributes, nextHop: g.nextHop }, nlri: g.prefixes };
  }
  const nextHops = g.linkLocalNextHop === undefined ? [g.nextHop] : [g.nextHop, g.linkLocalNextHop];
  return { withdrawn: [], attributes: { ...g.attributes, mpReachNlri: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops, nlri: g.prefixes } }, nlri: [] };
}

/**
 * The advertisements as UPDATE messages that fit the negotiated size, cut by
 * the codec's `splitUpdate`: withdrawals first (IPv4 in the withdrawn field,
 * IPv6 in MP_UNREACH_NLRI), then each attribute group (IPv4 NLRI with
 * NEXT_HOP, IPv6 in MP_REACH_NLRI; RFC 5549 mixed families are not supported).
 */
export function packUpdates(adv: Advertisements, ctx: CodecContext): Update[] {
  const updates: Update[] = [];
  const v4Withdrawn = adv.withdrawn.filter((p) => prefixAfi(p) === AFI_IPV4);
  const v6Withdrawn = adv.withdrawn.filter((p) => prefixAfi(p) === AFI_IPV6);
  if (v4Withdrawn.length > 0) updates.push(...splitUpdate({ withdrawn: v4Withdrawn, attributes: {}, nlri: [] }, ctx));
  if (v6Withdrawn.length > 0) {
    updates.push(...splitUpdate({ withdrawn: [], attributes: { mpUnreachNlri: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: v6Withdrawn } }, nlri: [] }, ctx));
  }
  for (const g of adv.announced) if (g.prefixes.length > 0) updates.push(...splitUpdate(announcementUpdate(g), ctx));
  return updates;
}
