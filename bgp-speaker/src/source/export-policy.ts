/**
 * tortie's export policy, as Calico's BIRD filter `calico_export_to_bgp_peers`:
 * send a route when its prefix lies in an IP pool that allows BGP export
 * (the node's blocks, borrowed /32s, and other nodes' blocks when reflecting)
 * or in an advertised service range; nothing else, so a default route learned
 * from a ToR is never handed on. A pool with `disableBGPExport` stops every
 * route inside it.
 */
import { cidrContains, parseCidr, type Cidr } from '../../../lib/cidr.js';
import type { ExportPolicy } from '../rib/adj-rib-out.js';
import type { ServiceAdvertisement } from './blocks.js';

/** The IPPool fields export needs (crds' IPPoolSpec fits). */
export interface PoolExport {
  readonly cidr: string;
  readonly disableBGPExport?: boolean | undefined;
}

function parseAll(cidrs: readonly string[]): Cidr[] {
  return cidrs.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null);
}

export function calculateExportPolicy(pools: readonly PoolExport[], advertisement: ServiceAdvertisement = {}): ExportPolicy {
  const blocked = parseAll(pools.filter((p) => p.disableBGPExport === true).map((p) => p.cidr));
  const allowed = parseAll([
    ...pools.filter((p) => p.disableBGPExport !== true).map((p) => p.cidr),
    ...[advertisement.serviceClusterIPs, advertisement.serviceExternalIPs, advertisement.serviceLoadBalancerIPs].flatMap((l) => (l ?? []).map((b) => b.cidr)),
  ]);
  return (path) => {
    const prefix = parseCidr(path.prefix);
    if (prefix === null) return false;
    if (blocked.some((c) => cidrContains(c, prefix))) return false;
    return allowed.some((c) => cidrContains(c, prefix));
  };
}
