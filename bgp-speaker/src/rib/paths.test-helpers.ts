/** Builders for RIB tests: a peer and a path with only the fields a test cares about. */
import type { PathAttributes } from '../codec/index.js';
import type { Path, PeerRef } from './path.js';

export function peer(address: string, over: Partial<PeerRef> = {}): PeerRef {
  return { address, asn: 65001, routerId: address.includes(':') ? '10.255.0.1' : address, isInternal: false, isRouteReflectorClient: false, ...over };
}

export function ibgpPeer(address: string, over: Partial<PeerRef> = {}): PeerRef {
  return peer(address, { asn: 64512, isInternal: true, ...over });
}

export function path(prefix: string, from: PeerRef | null, attributes: PathAttributes = {}, over: Partial<Path> = {}): Path {
  return {
    prefix,
    nextHop: from?.address ?? '192.0.2.1',
    attributes: { origin: 'IGP', asPath: from === null || from.isInternal ? [] : [{ type: 'AS_SEQUENCE', asns: [from.asn] }], ...attributes },
    peer: from,
    isStale: false,
    ...over,
  };
}
