/**
 * The tunnel devices the pools' encapsulation needs (pure, STYLE.md §2):
 *
 *   planTunnels(model)                       → DesiredTunnels
 *   planTunnelChanges(desired, actual)       → { ip: `ip -batch` lines, bridge: `bridge -batch` lines }
 *
 * VXLAN (any pool with vxlanMode ≠ Never): one device VXLAN_DEVICE (VNI,
 * dstport, `local` = the node's IPv4 address, nolearning, our VTEP MAC), the
 * node's VXLAN tunnel address on it as a /32 when the Node carries one, and
 * for every peer node the pools tunnel to (Always, or CrossSubnet and the
 * peer off our subnets): a permanent neighbour (its tunnel address, else its
 * node address: the onlink gateway routes.ts uses) → its VTEP MAC, and an
 * FDB entry VTEP MAC → its node address. IPv6 pools use the same device
 * (IPv6 inside, IPv4 outside, as routes.ts plans them): the node's IPv6
 * tunnel address as a /128, and IPv6 neighbours for peers with an IPv6
 * address (its IPv6 tunnel address, else the link-local address of its VTEP
 * MAC, `vtepLinkLocalOf`); the FDB entry stays the peer's IPv4 address.
 * IPIP (any IPv4 pool with ipipMode ≠ Never): IPIP_DEVICE up with its MTU and
 * the node's IPIP tunnel address. tunl0 is the ipip module's fallback device
 * (it cannot be deleted), so when no pool wants IPIP only its addresses go.
 *
 * Everything on VXLAN_DEVICE is ours (lib/contract.ts): its addresses,
 * neighbours and FDB entries are compared whole, and what is not desired is
 * removed. Nothing on any other device is read or written.
 */
import { cidrContainsIp, formatIp, parseCidr, parseIp, type Cidr } from '../../../lib/cidr.js';
import { IPIP_DEVICE, VXLAN_DEVICE, VXLAN_PORT, VXLAN_VNI } from '../../../lib/contract.js';
import { TortieError } from '../../../lib/errors.js';
import type { FdbEntry, IpLink, IpNeighbour } from '../../../lib/kernel/ip-json.js';
import type { EncapsulationMode } from './routes.js';

/** VXLAN over IPv4 adds 50 bytes (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14); IPIP adds 20. */
export const VXLAN_OVERHEAD = 50;
export const IPIP_OVERHEAD = 20;
/** Used when the uplink's MTU cannot be read. */
export const DEFAULT_UPLINK_MTU = 1500;

export interface TunnelNode {
  readonly name: string;
  /** The node's IPv4 address (its BGP address), the outer address of tunnelled packets. */
  readonly address: string | undefined;
  /** Node spec.ipv4VXLANTunnelAddr. */
  readonly vxlanTunnelAddress?: string | undefined;
  /** Node spec.vxlanTunnelMACAddr; when absent, `vtepMacOf(name)`. */
  readonly vxlanTunnelMac?: string | undefined;
  /** Node spec.bgp.ipv4IPIPTunnelAddr. */
  readonly ipipTunnelAddress?: string | undefined;
  /** The node's IPv6 address (spec.bgp.ipv6Address), for IPv6 pools. */
  readonly address6?: string | undefined;
  /** Node spec.ipv6VXLANTunnelAddr. */
  readonly vxlanTunnelAddress6?: string | undefined;
}

export interface TunnelPool {
  readonly name: string;
  readonly cidr: string;
  readonly ipipMode: EncapsulationMode;
  readonly vxlanMode: EncapsulationMode;
}

/** FelixConfiguration's tunnel fields (an MTU of 0 means: uplink MTU minus the overhead). */
export interface TunnelSettings {
  readonly vxlanVni: number;
  readonly vxlanPort: number;
  readonly vxlanMtu: number;
  readonly ipipMtu: number;
}

export const DEFAULT_TUNNEL_SETTINGS: TunnelSettings = { vxlanVni: VXLAN_VNI, vxlanPort: VXLAN_PORT, vxlanMtu: 0, ipipMtu: 0 };

export interface TunnelModel {
  readonly localNode: TunnelNode;
  /** Subnets of this node's addresses (CrossSubnet: a peer inside one is reached without a tunnel). */
  readonly localSubnets: readonly string[];
  readonly pools: readonly TunnelPool[];
  /** The other nodes. */
  readonly peers: readonly TunnelNode[];
  readonly settings: TunnelSettings;
}

export interface VxlanDevice {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  readonly local: string;
  readonly mac: string;
  readonly mtu: number;
  /** The device's own addresses: IPv4 /32 and IPv6 /128, when the Node has them. */
  readonly addresses: readonly string[];
}

export interface VxlanPeer {
  readonly node: string;
  /** The onlink gateways of routes to this node, per family (its tunnel address, else its node address). */
  readonly gateways: readonly string[];
  readonly mac: string;
  /** Outer destination: the node's address. */
  readonly nodeAddress: string;
}

export interface IpipDevice {
  readonly name: string;
  readonly mtu: number;
  readonly address: string | null;
  /** The pools that want it (for messages and status). */
  readonly pools: readonly string[];
}

export interface TunnelProblem {
  readonly device: string;
  readonly pools: readonly string[];
  readonly message: string;
}

export interface DesiredTunnels {
  readonly vxlan: VxlanDevice | null;
  readonly vxlanPools: readonly string[];
  readonly vxlanPeers: readonly VxlanPeer[];
  readonly ipip: IpipDevice | null;
  /** Why a device the pools want cannot be planned (e.g. the node has no IPv4 address). */
  readonly problems: readonly TunnelProblem[];
}

/**
 * A stable VTEP MAC for a node without vxlanTunnelMACAddr: FNV-1a 64 of its
 * name, with the locally administered bit set and the multicast bit clear.
 * Every node derives the same MAC for a given name, so peers agree on it
 * without anyone writing it to the datastore.
 */
export function vtepMacOf(nodeName: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(nodeName)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const bytes = Array.from({ length: 6 }, (_, i) => Number((hash >> BigInt(8 * i)) & 0xffn));
  bytes[0] = ((bytes[0] as number) & 0xfc) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The IPv6 link-local address (EUI-64) of a VTEP MAC: the address the peer's
 * own device has, and the gateway of IPv6 routes to a peer without an IPv6
 * tunnel address. A global gateway will not do: the kernel refuses an IPv6
 * `onlink` gateway that a route through another device covers ("Nexthop has
 * invalid gateway or device mismatch"), which the peer's node address is
 * whenever the nodes share an IPv6 subnet.
 */
export function vtepLinkLocalOf(mac: string): string {
  const b = mac.split(':').map((h) => Number.parseInt(h, 16));
  const word = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  const text = `fe80:0:0:0:${word((b[0] ?? 0) ^ 0x02, b[1] ?? 0)}:${word(b[2] ?? 0, 0xff)}:${word(0xfe, b[3] ?? 0)}:${word(b[4] ?? 0, b[5] ?? 0)}`;
  const ip = parseIp(text);
  return ip === null ? text : formatIp(6, ip.value); // canonical, as the kernel prints it
}

function isIpv4Pool(pool: TunnelPool): boolean {
  return parseCidr(pool.cidr)?.family === 4;
}

function inAny(cidrs: readonly Cidr[], address: string): boolean {
  const ip = parseIp(address);
  return ip !== null && cidrs.some((c) => cidrContainsIp(c, ip.family, ip.value));
}

export function planTunnels(model: TunnelModel, uplinkMtu: number | null): DesiredTunnels {
  const uplink = uplinkMtu ?? DEFAULT_UPLINK_MTU;
  const problems: TunnelProblem[] = [];
  const local = model.localNode;
  const localAddress = local.address !== undefined && parseIp(local.address)?.family === 4 ? local.address : undefined;

  const vxlanPools = model.pools.filter((p) => p.vxlanMode !== 'Never');
  let vxlan: VxlanDevice | null = null;
  const vxlanPeers: VxlanPeer[] = [];
  if (vxlanPools.length > 0 && localAddress === undefined) {
    problems.push({ device: VXLAN_DEVICE, pools: vxlanPools.map((p) => p.name), message: `node ${local.name} has no IPv4 address (Node spec.bgp.ipv4Address), so ${VXLAN_DEVICE} has no local VTEP address and is not created` });
  } else if (vxlanPools.length > 0 && localAddress !== undefined) {
    vxlan = {
      name: VXLAN_DEVICE,
      vni: model.settings.vxlanVni,
      port: model.settings.vxlanPort,
      local: localAddress,
      mac: (local.vxlanTunnelMac ?? vtepMacOf(local.name)).toLowerCase(),
      mtu: model.settings.vxlanMtu > 0 ? model.settings.vxlanMtu : uplink - VXLAN_OVERHEAD,
      addresses: [...(local.vxlanTunnelAddress === undefined ? [] : [`${local.vxlanTunnelAddress}/32`]), ...(local.vxlanTunnelAddress6 === undefined ? [] : [`${local.vxlanTunnelAddress6}/128`])],
    };
    const subnets: Cidr[] = model.localSubnets.flatMap((s) => parseCidr(s) ?? []);
    const poolsOf = (family: 4 | 6) => vxlanPools.filter((p) => parseCidr(p.cidr)?.family === family);
    /** Whether traffic of `family` to a peer at `address` is tunnelled. */
    const tunnels = (family: 4 | 6, address: string | undefined) => {
      const pools = poolsOf(family);
      return address !== undefined && parseIp(address)?.family === family && pools.length > 0 && (pools.some((p) => p.vxlanMode === 'Always') || !inAny(subnets, address));
    };
    for (const peer of [...model.peers].sort((a, b) => a.name.localeCompare(b.name))) {
      // The outer (FDB) address is always the peer's IPv4 address.
      if (peer.name === local.name || peer.address === undefined || parseIp(peer.address)?.family !== 4 || peer.address === localAddress) continue;
      const mac = (peer.vxlanTunnelMac ?? vtepMacOf(peer.name)).toLowerCase();
      const gateways = [
        ...(tunnels(4, peer.address) ? [peer.vxlanTunnelAddress ?? peer.address] : []),
        ...(tunnels(6, peer.address6) ? [peer.vxlanTunnelAddress6 ?? vtepLinkLocalOf(mac)] : []),
      ];
      if (gateways.length > 0) vxlanPeers.push({ node: peer.name, gateways, mac, nodeAddress: peer.address });
    }
  }

  const ipipPools = model.pools.filter((p) => p.ipipMode !== 'Never' && isIpv4Pool(p));
  const ipip: IpipDevice | null =
    ipipPools.length === 0
      ? null
      : { name: IPIP_DEVICE, mtu: model.settings.ipipMtu > 0 ? model.settings.ipipMtu : uplink - IPIP_OVERHEAD, address: local.ipipTunnelAddress ?? null, pools: ipipPools.map((p) => p.name) };

  return { vxlan, vxlanPools: vxlanPools.map((p) => p.name), vxlanPeers, ipip, problems };
}

/** What the kernel holds on our tunnel devices (addresses as `address/len`, link-local ones left out). */
export interface ActualTunnels {
  readonly vxlan: { readonly link: IpLink | null; readonly addresses: readonly string[]; readonly neighbours: readonly IpNeighbour[]; readonly fdb: readonly FdbEntry[] };
  readonly ipip: { readonly link: IpLink | null; readonly addresses: readonly string[] };
}

export interface TunnelChanges {
  /** `ip -batch` lines: devices, addresses, neighbours (run first). */
  readonly ip: readonly string[];
  /** `bridge -batch` lines: FDB entries (run after, the device exists by then). */
  readonly bridge: readonly string[];
}

function isSameVxlanParameters(link: IpLink, d: VxlanDevice): boolean {
  const v = link.vxlan;
  return link.kind === 'vxlan' && v !== null && v !== undefined && v.id === d.vni && v.port === d.port && v.local === d.local && !v.isLearning;
}

/** Address lines that turn `actual` into `desired` (both `address/len`). */
function addressChanges(dev: string, desired: readonly string[], actual: readonly string[]): string[] {
  return [...desired.filter((d) => !actual.includes(d)).map((d) => `addr replace ${d} dev ${dev}`), ...actual.filter((a) => !desired.includes(a)).map((a) => `addr del ${a} dev ${dev}`)];
}

function linkSettings(link: IpLink | null, mtu: number, mac: string | null): string[] {
  const parts: string[] = [];
  if (link === null || link.mtu !== mtu) parts.push('mtu', String(mtu));
  if (mac !== null && (link === null || link.macAddress !== mac)) parts.push('address', mac);
  if (link === null || !link.isUp) parts.push('up');
  return parts;
}

function vxlanChanges(d: VxlanDevice | null, peers: readonly VxlanPeer[], actual: ActualTunnels['vxlan']): TunnelChanges {
  const link = actual.link;
  if (d === null) return { ip: link === null ? [] : [`link del ${VXLAN_DEVICE}`], bridge: [] };
  const ip: string[] = [];
  const isKept = link !== null && isSameVxlanParameters(link, d);
  if (link !== null && !isKept) ip.push(`link del ${d.name}`);
  if (!isKept) ip.push(`link add ${d.name} type vxlan id ${d.vni} local ${d.local} dstport ${d.port} nolearning`);
  const current = isKept ? link : null;
  const settings = linkSettings(current, d.mtu, d.mac);
  if (settings.length > 0) ip.push(`link set ${d.name} ${settings.join(' ')}`);
  ip.push(...addressChanges(d.name, d.addresses, current === null ? [] : actual.addresses));

  const neighbours = current === null ? [] : actual.neighbours;
  const fdb = current === null ? [] : actual.fdb;
  const wantedNeighbours = new Map(peers.flatMap((p) => p.gateways.map((g) => [g, p.mac] as const)));
  for (const [gateway, mac] of wantedNeighbours) {
    const a = neighbours.find((n) => n.dst === gateway);
    if (a === undefined || a.lladdr !== mac || !a.state.includes('PERMANENT')) ip.push(`neigh replace ${gateway} lladdr ${mac} dev ${d.name} nud permanent`);
  }
  for (const n of neighbours) if (!wantedNeighbours.has(n.dst)) ip.push(`neigh del ${n.dst} dev ${d.name}`);

  const bridge: string[] = [];
  const wantedFdb = new Map(peers.map((p) => [p.mac, p.nodeAddress]));
  for (const [mac, dst] of wantedFdb) {
    const entries = fdb.filter((e) => e.mac === mac);
    if (entries.length === 1 && entries[0]?.dst === dst && entries[0].state === 'permanent') continue;
    for (const e of entries) if (e.dst !== dst) bridge.push(`fdb del ${e.mac} dev ${d.name}${e.dst === null ? '' : ` dst ${e.dst}`} self`);
    bridge.push(`fdb replace ${mac} dev ${d.name} dst ${dst} self permanent`);
  }
  for (const e of fdb) if (!wantedFdb.has(e.mac)) bridge.push(`fdb del ${e.mac} dev ${d.name}${e.dst === null ? '' : ` dst ${e.dst}`} self`);
  return { ip, bridge };
}

function ipipChanges(d: IpipDevice | null, actual: ActualTunnels['ipip']): string[] {
  const link = actual.link;
  // tunl0 is the ipip module's fallback device: it cannot be deleted, only emptied.
  if (d === null) return link === null ? [] : addressChanges(IPIP_DEVICE, [], actual.addresses);
  const lines = link === null ? [`link add ${d.name} type ipip`] : [];
  const settings = linkSettings(link, d.mtu, null);
  if (settings.length > 0) lines.push(`link set ${d.name} ${settings.join(' ')}`);
  return [...lines, ...addressChanges(d.name, d.address === null ? [] : [`${d.address}/32`], link === null ? [] : actual.addresses)];
}

/** The writes that turn `actual` into `desired`; both empty when they already match. */
export function planTunnelChanges(desired: DesiredTunnels, actual: ActualTunnels): TunnelChanges {
  const v = vxlanChanges(desired.vxlan, desired.vxlanPeers, actual.vxlan);
  return { ip: [...v.ip, ...ipipChanges(desired.ipip, actual.ipip)], bridge: v.bridge };
}

/**
 * The error for a kernel without IPIP (CONFIG_NET_IPIP, module ipip): names
 * the pools that asked for it and what to do instead. `cause` is the failed
 * `ip link add tunl0 type ipip`.
 */
export function ipipUnsupportedError(pools: readonly string[], cause: unknown): TortieError {
  const what = pools.length === 1 ? `IPPool ${pools[0]} has` : `IPPools ${pools.join(', ')} have`;
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new TortieError(
    'ERR_KERNEL',
    `${what} ipipMode set, but this kernel has no IPIP tunnels (kernel option CONFIG_NET_IPIP, module ipip): ` +
      `"ip link add ${IPIP_DEVICE} type ipip" failed${why}. No IPIP routes are programmed for ${pools.length === 1 ? 'it' : 'them'}. ` +
      'Use vxlanMode instead of ipipMode, or run on a kernel with the ipip module.',
    { cause, details: { device: IPIP_DEVICE, pools: [...pools], kernelOption: 'CONFIG_NET_IPIP' } },
  );
}
