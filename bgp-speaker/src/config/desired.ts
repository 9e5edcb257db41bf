/**
 * Everything the speaker wants, from one snapshot of the datastore (pure,
 * STYLE.md §1): the sessions (`calculatePeers`), the paths this node
 * originates (its affine blocks and borrowed addresses, service ranges), the
 * export policy (pools without disableBGPExport, service ranges) and the
 * routing context for kernel routes (own blocks, pools' encapsulation, the
 * other nodes' addresses).
 */
import type { BGPConfiguration, BGPPeer, FelixConfiguration, IPAMBlock, IPPool, Node } from '../../../crds/src/index.js';
import { parseDurationMs, resolveFelixConfiguration } from '../../../crds/src/index.js';
import type { ExportPolicy } from '../rib/adj-rib-out.js';
import type { Path } from '../rib/path.js';
import type { RoutingContext } from '../program/routes.js';
import { vtepLinkLocalOf, vtepMacOf, type TunnelModel, type TunnelNode } from '../program/tunnels.js';
import { calculateBlockPaths, calculateServicePaths, type ServiceAdvertisement } from '../source/blocks.js';
import { calculateExportPolicy } from '../source/export-policy.js';
import { calculatePeers, nodeAddresses, type PeerPlan, type SecretData } from './peers.js';

export interface DatastoreSnapshot {
  readonly nodeName: string;
  readonly nodes: readonly Node[];
  readonly bgpConfiguration?: BGPConfiguration | null | undefined;
  readonly bgpPeers: readonly BGPPeer[];
  readonly pools: readonly IPPool[];
  readonly blocks: readonly IPAMBlock[];
  readonly secrets?: SecretData | undefined;
  /** `default` and `node.<nodeName>` are read for the tunnel settings (vxlanVNI, vxlanPort, vxlanMTU, ipipMTU). */
  readonly felixConfigurations?: readonly FelixConfiguration[] | undefined;
}

export interface SpeakerConfig {
  readonly plan: PeerPlan;
  readonly blockPaths: readonly Path[];
  readonly servicePaths: readonly Path[];
  readonly exportPolicy: ExportPolicy;
  /** Equal keys: the same export policy (a function cannot be compared). */
  readonly exportKey: string;
  readonly routing: RoutingContext;
  /** What the tunnel devices are planned from (program/tunnels.ts). */
  readonly tunnels: TunnelModel;
  /**
   * How often kernel routes and tunnel devices are read back and repaired even
   * without a change (FelixConfiguration routeRefreshInterval, default 90 s; 0: never).
   */
  readonly routeRefreshIntervalMs: number;
  /** TCP port to listen on (BGPConfiguration listenPort). */
  readonly listenPort: number;
}

export function advertisementOf(config: BGPConfiguration | null | undefined): ServiceAdvertisement {
  const s = config?.spec;
  if (s === undefined) return {};
  return {
    serviceClusterIPs: s.serviceClusterIPs,
    serviceExternalIPs: s.serviceExternalIPs,
    serviceLoadBalancerIPs: s.serviceLoadBalancerIPs,
    communities: s.communities,
    prefixAdvertisements: s.prefixAdvertisements,
  };
}

export function calculateSpeakerConfig(snapshot: DatastoreSnapshot): SpeakerConfig {
  const plan = calculatePeers({
    localNode: snapshot.nodeName,
    nodes: snapshot.nodes,
    bgpConfiguration: snapshot.bgpConfiguration,
    bgpPeers: snapshot.bgpPeers,
    secrets: snapshot.secrets,
  });
  const advertisement = advertisementOf(snapshot.bgpConfiguration);
  const blocks = [...snapshot.blocks].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((b) => b.spec);
  const blockPaths = calculateBlockPaths(snapshot.nodeName, blocks, plan.nodeAddress, advertisement);
  const servicePaths = calculateServicePaths(advertisement, plan.nodeAddress);
  const pools = [...snapshot.pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const poolExports = pools.map((p) => ({ cidr: p.spec.cidr, disableBGPExport: p.spec.disableBGPExport }));
  const affinity = `host:${snapshot.nodeName}`;
  const allAddresses = new Set<string>();
  const vxlan = new Map<string, string>();
  for (const n of snapshot.nodes) {
    const a = nodeAddresses(n);
    if (a.ipv4 !== undefined) {
      allAddresses.add(a.ipv4);
      if (n.spec.ipv4VXLANTunnelAddr !== undefined) vxlan.set(a.ipv4, n.spec.ipv4VXLANTunnelAddr);
    }
    if (a.ipv6 !== undefined) {
      allAddresses.add(a.ipv6);
      // Without an IPv6 tunnel address, the link-local address of the node's VTEP MAC (see vtepLinkLocalOf).
      vxlan.set(a.ipv6, n.spec.ipv6VXLANTunnelAddr ?? vtepLinkLocalOf(n.spec.vxlanTunnelMACAddr?.toLowerCase() ?? vtepMacOf(n.metadata.name)));
    }
  }
  const tunnelNode = (n: Node): TunnelNode => ({
    name: n.metadata.name,
    address: nodeAddresses(n).ipv4,
    vxlanTunnelAddress: n.spec.ipv4VXLANTunnelAddr,
    vxlanTunnelMac: n.spec.vxlanTunnelMACAddr,
    ipipTunnelAddress: n.spec.bgp?.ipv4IPIPTunnelAddr,
    address6: nodeAddresses(n).ipv6,
    vxlanTunnelAddress6: n.spec.ipv6VXLANTunnelAddr,
  });
  const felixSpec = (name: string) => snapshot.felixConfigurations?.find((f) => f.metadata.name === name)?.spec;
  const felix = resolveFelixConfiguration(felixSpec('default'), felixSpec(`node.${snapshot.nodeName}`));
  const localNode = snapshot.nodes.find((n) => n.metadata.name === snapshot.nodeName);
  return {
    plan,
    blockPaths,
    servicePaths,
    exportPolicy: calculateExportPolicy(poolExports, advertisement),
    exportKey: JSON.stringify([poolExports, advertisement]),
    routing: {
      localBlocks: blocks.filter((b) => b.affinity === affinity && b.deleted !== true).map((b) => b.cidr),
      nodeAddress: plan.nodeAddress,
      localSubnets: plan.localSubnets,
      pools: pools.map((p) => ({ cidr: p.spec.cidr, ipipMode: p.spec.ipipMode, vxlanMode: p.spec.vxlanMode })),
      vxlanTunnelAddresses: vxlan,
      nodeAddresses: allAddresses,
    },
    tunnels: {
      localNode: localNode === undefined ? { name: snapshot.nodeName, address: plan.nodeAddress.ipv4 } : tunnelNode(localNode),
      localSubnets: plan.localSubnets,
      pools: pools.map((p) => ({ name: p.metadata.name, cidr: p.spec.cidr, ipipMode: p.spec.ipipMode, vxlanMode: p.spec.vxlanMode })),
      peers: snapshot.nodes
        .filter((n) => n.metadata.name !== snapshot.nodeName)
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
        .map(tunnelNode),
      settings: { vxlanVni: felix.vxlanVNI, vxlanPort: felix.vxlanPort, vxlanMtu: felix.vxlanMTU, ipipMtu: felix.ipipMTU },
    },
    routeRefreshIntervalMs: parseDurationMs(felix.routeRefreshInterval) ?? 90_000,
    listenPort: snapshot.bgpConfiguration?.spec.listenPort ?? 179,
  };
}
