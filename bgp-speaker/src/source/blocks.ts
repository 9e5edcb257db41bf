/**
 * What this node originates: its affine IPAM blocks (aggregated), /32 and
 * /128 routes for addresses it borrowed from other nodes' blocks, and the
 * service ranges BGPConfiguration asks every node to announce. Pure: a
 * snapshot of the datastore's objects in, Loc-RIB paths out (for
 * `LocRib.setLocal(BLOCKS_ORIGIN, ...)` and `setLocal(SERVICES_ORIGIN, ...)`).
 */
import { cidrAddress, cidrContains, formatCidr, hostCidr, mergeCidrs, parseCidr, type Cidr, type IpFamily } from '../../../lib/cidr.js';
import type { LargeCommunity, PathAttributes } from '../codec/index.js';
import type { Path } from '../rib/path.js';

export const BLOCKS_ORIGIN = 'blocks';
export const SERVICES_ORIGIN = 'services';

/** The fields of an IPAMBlock spec this needs (crds' IPAMBlockSpec fits). */
export interface BlockRecord {
  readonly cidr: string;
  /** `host:<node>`; null or absent for a block no node owns. */
  readonly affinity?: string | null | undefined;
  readonly allocations: readonly (number | null)[];
  readonly attributes: readonly { readonly secondary?: Readonly<Record<string, string>> | null | undefined }[];
  readonly deleted?: boolean | undefined;
}

/** The node's own address per family: the NEXT_HOP of what it originates. */
export interface NodeAddresses {
  readonly ipv4?: string | undefined;
  readonly ipv6?: string | undefined;
}

/** The BGPConfiguration fields that shape originated paths (crds' BGPConfigurationSpec fits). */
export interface ServiceAdvertisement {
  readonly serviceClusterIPs?: readonly { readonly cidr: string }[] | undefined;
  readonly serviceExternalIPs?: readonly { readonly cidr: string }[] | undefined;
  readonly serviceLoadBalancerIPs?: readonly { readonly cidr: string }[] | undefined;
  readonly communities?: readonly { readonly name: string; readonly value: string }[] | undefined;
  readonly prefixAdvertisements?: readonly { readonly cidr: string; readonly communities: readonly string[] }[] | undefined;
}

/** The attribute key Calico's IPAM writes the allocating node under (libcalico-go `AttributeNode`). */
export const ALLOCATION_NODE_ATTRIBUTE = 'node';

function originated(cidr: Cidr, nodeAddress: NodeAddresses, advertisement: ServiceAdvertisement): Path | null {
  const nextHop = cidr.family === 4 ? nodeAddress.ipv4 : nodeAddress.ipv6;
  if (nextHop === undefined) return null;
  const attributes: PathAttributes = { origin: 'IGP', asPath: [], ...communitiesFor(cidr, advertisement) };
  return { prefix: formatCidr(cidr), nextHop, attributes, peer: null, isStale: false };
}

/**
 * Communities for an originated prefix: those of every prefixAdvertisements
 * entry whose CIDR contains it, by name (from `communities`) or literal
 * `aa:nn` / `aa:nn:mm` (Calico's semantics). Unknown names are skipped (the
 * crds validation already refuses them).
 */
export function communitiesFor(cidr: Cidr, advertisement: ServiceAdvertisement): Pick<PathAttributes, 'communities' | 'largeCommunities'> {
  const named = new Map((advertisement.communities ?? []).map((c) => [c.name, c.value]));
  const standard = new Set<number>();
  const large = new Map<string, LargeCommunity>();
  for (const adv of advertisement.prefixAdvertisements ?? []) {
    const where = parseCidr(adv.cidr);
    if (where === null || !cidrContains(where, cidr)) continue;
    for (const c of adv.communities) {
      const parts = (named.get(c) ?? c).split(':').map(Number);
      if (parts.length === 2) standard.add(((parts[0] as number) * 0x10000 + (parts[1] as number)) >>> 0);
      else if (parts.length === 3) large.set(parts.join(':'), { globalAdministrator: parts[0] as number, localData1: parts[1] as number, localData2: parts[2] as number });
    }
  }
  const out: { communities?: number[]; largeCommunities?: LargeCommunity[] } = {};
  if (standard.size > 0) out.communities = [...standard].sort((a, b) => a - b);
  if (large.size > 0) out.largeCommunities = [...large.values()];
  return out;
}

/**
 * Paths for the node's blocks: the blocks affine to `nodeName`, merged into
 * the fewest CIDRs covering exactly the same addresses, plus a host route
 * for every address this node allocated from a block it does not own (a
 * borrowed address: the owner announces the whole block, the more specific
 * route brings the traffic here). Deleted blocks are skipped.
 */
export function calculateBlockPaths(nodeName: string, blocks: readonly BlockRecord[], nodeAddress: NodeAddresses, advertisement: ServiceAdvertisement = {}): Path[] {
  const own: Cidr[] = [];
  const borrowed: Cidr[] = [];
  const affinity = `host:${nodeName}`;
  for (const block of blocks) {
    if (block.deleted === true) continue;
    const cidr = parseCidr(block.cidr);
    if (cidr === null) continue;
    if (block.affinity === affinity) {
      own.push(cidr);
      continue;
    }
    block.allocations.forEach((attr, offset) => {
      if (attr === null) return;
      if (block.attributes[attr]?.secondary?.[ALLOCATION_NODE_ATTRIBUTE] !== nodeName) return;
      borrowed.push(hostCidr(cidr.family as IpFamily, cidrAddress(cidr, BigInt(offset))));
    });
  }
  const cidrs = [...mergeCidrs(own), ...borrowed];
  return cidrs.map((c) => originated(c, nodeAddress, advertisement)).filter((p): p is Path => p !== null);
}

/**
 * Paths for the service ranges of BGPConfiguration: serviceClusterIPs,
 * serviceExternalIPs and serviceLoadBalancerIPs, as whole CIDRs from every
 * node (Calico's behaviour for cluster IPs; ECMP at the router spreads them).
 */
export function calculateServicePaths(advertisement: ServiceAdvertisement, nodeAddress: NodeAddresses): Path[] {
  const cidrs: Cidr[] = [];
  for (const list of [advertisement.serviceClusterIPs, advertisement.serviceExternalIPs, advertisement.serviceLoadBalancerIPs]) {
    for (const { cidr } of list ?? []) {
      const c = parseCidr(cidr);
      if (c !== null) cidrs.push(c);
    }
  }
  return mergeCidrs(cidrs)
    .map((c) => originated(c, nodeAddress, advertisement))
    .filter((p): p is Path => p !== null);
}
