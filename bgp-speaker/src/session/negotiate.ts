/**
 * What two OPENs agree on (RFC 4271 §4.2, RFC 5492): hold and keepalive time,
 * 4-octet AS numbers (RFC 6793), extended messages (RFC 8654), the address
 * families both announced (RFC 4760; none announced means IPv4 unicast),
 * route refresh, and the peer's graceful-restart capability. Pure.
 */
import type { AfiSafi, Capability } from '../codec/capabilities.js';
import { codecContext, type CodecContext } from '../codec/context.js';
import { openAsn, type Open } from '../codec/open.js';
import { negotiateHoldTime } from '../fsm/timers.js';

export interface Negotiated {
  readonly ctx: CodecContext;
  readonly peerAsn: number;
  readonly peerId: string;
  readonly holdTimeSec: number;
  readonly keepaliveTimeSec: number;
  readonly isExternal: boolean;
  readonly families: readonly AfiSafi[];
  readonly hasRouteRefresh: boolean;
  /** The peer's graceful-restart capability, when it sent one. */
  readonly peerGracefulRestart: Extract<Capability, { type: 'graceful-restart' }> | null;
}

const IPV4_UNICAST: AfiSafi = Object.freeze({ afi: 1, safi: 1 });

function families(caps: readonly Capability[]): AfiSafi[] {
  const mp = caps.filter((c): c is Extract<Capability, { type: 'multiprotocol' }> => c.type === 'multiprotocol');
  return mp.length === 0 ? [IPV4_UNICAST] : mp.map((c) => ({ afi: c.afi, safi: c.safi }));
}

const has = (caps: readonly Capability[], type: Capability['type']) => caps.some((c) => c.type === type);

export function negotiate(ours: Open, theirs: Open, localAsn: number): Negotiated {
  const peerAsn = openAsn(theirs);
  const isExternal = peerAsn !== localAsn;
  const t = negotiateHoldTime(ours.holdTimeSec, theirs.holdTimeSec);
  const theirFamilies = families(theirs.capabilities);
  const common = families(ours.capabilities).filter((f) => theirFamilies.some((g) => g.afi === f.afi && g.safi === f.safi));
  const gr = theirs.capabilities.find((c): c is Extract<Capability, { type: 'graceful-restart' }> => c.type === 'graceful-restart') ?? null;
  return {
    ctx: codecContext({
      hasFourOctetAs: has(ours.capabilities, 'four-octet-as') && has(theirs.capabilities, 'four-octet-as'),
      hasExtendedMessage: has(ours.capabilities, 'extended-message') && has(theirs.capabilities, 'extended-message'),
      isExternalPeer: isExternal,
    }),
    peerAsn,
    peerId: theirs.bgpIdentifier,
    holdTimeSec: t.holdTimeSec,
    keepaliveTimeSec: t.keepaliveTimeSec,
    isExternal,
    families: common,
    hasRouteRefresh: has(ours.capabilities, 'route-refresh') && has(theirs.capabilities, 'route-refresh'),
    peerGracefulRestart: gr,
  };
}
