/**
 * The datapath of one pod, as data (pure: no I/O, same input ⇒ same plan).
 *
 * `planAttachment` turns "this container, these addresses" into an
 * `AttachmentPlan`: the desired state (links, addresses, routes, sysctls) and
 * the `ip -batch` lines that make it, in two namespaces. `attach.ts` runs a
 * plan; CHECK compares a plan with what the kernel holds (`diffAttachment`).
 *
 * The shape, ptp-style as Calico does it:
 *   host ns:  tor<hash>  (veth, MAC ee:ee:ee:ee:ee:ee, up, proxy_arp=1,
 *                         proxy_delay=0, forwarding=1; fe80::1/64 nodad for IPv6)
 *             route <pod>/32 dev tor<hash> scope link proto WORKLOAD_ROUTE_PROTOCOL
 *   pod ns:   eth0       (the veth's other end, created in the pod's netns by
 *                         the same `ip link add`: no namespace move)
 *             <pod>/32 (and <pod6>/128 nodad), up
 *             default via 169.254.1.1 dev eth0 onlink  (::/0 via fe80::1 dev eth0)
 * The pod sends everything to 169.254.1.1; the host end answers that ARP by
 * proxy (proxy_arp answers for any address the host routes through another
 * device; `169.254.1.1/32 dev lo`, added by every IPv4 attachment, makes
 * that true on a host without a default route too: calico#3270) and routes.
 * For IPv6 the host end simply owns fe80::1 (added without DAD, so nothing
 * waits on it), which answers neighbour solicitations with no proxy at all.
 */
import { createHash } from 'node:crypto';
import {
  HOST_VETH_PREFIX,
  IFNAME_MAX_LENGTH,
  POD_GATEWAY_IPV4,
  POD_GATEWAY_IPV6,
  WORKLOAD_ROUTE_PROTOCOL,
} from '../../lib/contract.js';
import { parseIp, type IpFamily } from '../../lib/cidr.js';
import { TortieError } from '../../lib/errors.js';
import type { IpAddress, IpLink, IpRoute } from '../../lib/kernel/ip-json.js';
import { netnsRefFromPath, type NetnsRef } from '../../lib/kernel/netns-ref.js';
import type { SysctlSetting } from '../../lib/kernel/sysctl.js';

export interface PodAddress {
  family: IpFamily;
  /** The address alone, e.g. `10.244.1.5`. */
  address: string;
  /** Always a host prefix: 32 for IPv4, 128 for IPv6. */
  prefixLength: 32 | 128;
}

export interface AttachmentRequest {
  containerId: string;
  /** K8S_POD_NAMESPACE / K8S_POD_NAME when the runtime gave them. */
  podNamespace?: string | null;
  podName?: string | null;
  /** CNI_IFNAME: the pod end's name (eth0). */
  ifName: string;
  /** CNI_NETNS */
  netnsPath: string;
  addresses: readonly PodAddress[];
  /** Already resolved (see resolveMtu). */
  mtu: number;
}

export interface PlannedRoute {
  family: IpFamily;
  /** CIDR, as ip-json normalises it (`0.0.0.0/0`, `10.244.1.5/32`). */
  dst: string;
  gateway: string | null;
  dev: string;
  /** Route protocol the route is stamped with; null leaves the kernel's default (boot). */
  protocol: number | null;
  isOnlink: boolean;
}

export interface AttachmentPlan {
  hostIfName: string;
  podIfName: string;
  netns: NetnsRef;
  mtu: number;
  /** MAC of the host end: the same on every host veth (each is its own link), as Calico does. */
  hostMac: string;
  /** MAC of the pod end: derived from the container, so a retry gives the same one. */
  podMac: string;
  addresses: PodAddress[];
  /** Addresses on the host end (fe80::1/64 when the pod has IPv6). */
  hostAddresses: { family: IpFamily; address: string; prefixLength: number }[];
  podRoutes: PlannedRoute[];
  hostRoutes: PlannedRoute[];
  /** Host-namespace sysctls, written once the host end exists, beside the pod end's configuration (both before ADD returns). */
  sysctls: SysctlSetting[];
  /** `ip -batch` lines in the host namespace; line 1 creates the pair (both ends). */
  hostCommands: string[];
  /** `ip -batch` lines in the pod's namespace. */
  podCommands: string[];
  /** Host-namespace lines that remove everything the plan makes (the pod end and routes go with the link). */
  undoCommands: string[];
}

export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';

/**
 * The host-wide route that lets proxy ARP answer for the pods' gateway on
 * every host, default route or not (calico#3270). Shared by all pods, so no
 * undo or DEL removes it; `replace` makes it idempotent. Packets addressed
 * to 169.254.1.1 itself go to the host's loopback instead of the default
 * gateway, which nothing relies on.
 */
export const GATEWAY_ROUTE_COMMAND = `route replace ${POD_GATEWAY_IPV4}/32 dev lo scope link proto ${WORKLOAD_ROUTE_PROTOCOL}`;

/** Bytes an encapsulation adds to each packet, to take off the uplink MTU. */
export const ENCAPSULATION_OVERHEAD = {
  none: 0,
  /** IPv4 outer header. */
  ipip: 20,
  /** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
  vxlan: 50,
  /** The same over an IPv6 underlay (outer header 40). */
  vxlanV6: 70,
} as const;

export const DEFAULT_UPLINK_MTU = 1500;
const MIN_MTU = 68;
const MAX_MTU = 65535;

/**
 * The MTU both veth ends get: the configured one when it is set (non-zero),
 * else the uplink's (the device of the host's default route; 1500 when there
 * is none) less the encapsulation's overhead.
 */
export function resolveMtu(input: { configuredMtu: number; uplinkMtu: number | null; encapsulationOverhead: number }): number {
  const mtu =
    input.configuredMtu > 0 ? input.configuredMtu : (input.uplinkMtu ?? DEFAULT_UPLINK_MTU) - input.encapsulationOverhead;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    const from =
      input.configuredMtu > 0
        ? `the configured mtu ${input.configuredMtu}`
        : `uplink MTU ${input.uplinkMtu ?? DEFAULT_UPLINK_MTU} less ${input.encapsulationOverhead} bytes of encapsulation`;
    throw new TortieError('ERR_CONFIG_INVALID', `mtu: ${mtu} (${from}) is outside ${MIN_MTU}-${MAX_MTU}; set "mtu" in the network config`);
  }
  return mtu;
}

/** What the host end's name is derived from: `namespace.pod` for a Kubernetes pod, else the container ID (Calico's rule). */
export function workloadIdentity(input: { containerId: string; podNamespace?: string | null; podName?: string | null }): string {
  return input.podNamespace && input.podName ? `${input.podNamespace}.${input.podName}` : input.containerId;
}

function sha1Hex(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/**
 * The host end's name: HOST_VETH_PREFIX + the first hex digits of
 * sha1(identity), exactly IFNAME_MAX_LENGTH characters. The same workload
 * always gets the same name (a retried ADD finds its own veth), so it is
 * recognisably ours after a restart with no memory.
 */
export function hostVethName(input: { containerId: string; podNamespace?: string | null; podName?: string | null }): string {
  const digits = IFNAME_MAX_LENGTH - HOST_VETH_PREFIX.length;
  return HOST_VETH_PREFIX + sha1Hex(workloadIdentity(input)).slice(0, digits);
}

/** A locally administered unicast MAC for the pod end, from the container ID. */
export function podMacAddress(containerId: string): string {
  const bytes = sha1Hex(`mac:${containerId}`).slice(0, 12).match(/../g) ?? [];
  const first = ((Number.parseInt(bytes[0] ?? '00', 16) & 0xfe) | 0x02).toString(16).padStart(2, '0');
  return [first, ...bytes.slice(1)].join(':');
}

const IFNAME_RE = /^[^\s/:]+$/;

function invalid(message: string): TortieError {
  return new TortieError('ERR_VALIDATION', message);
}

function checkAddress(a: PodAddress): void {
  const ip = parseIp(a.address);
  if (ip === null || ip.family !== a.family) throw invalid(`address ${a.address} is not an IPv${a.family} address`);
  if (a.prefixLength !== (a.family === 4 ? 32 : 128)) {
    throw invalid(`address ${a.address}/${a.prefixLength}: pod addresses are host routes (/${a.family === 4 ? 32 : 128})`);
  }
}

export function planAttachment(req: AttachmentRequest): AttachmentPlan {
  if (req.ifName.length === 0 || req.ifName.length > IFNAME_MAX_LENGTH || !IFNAME_RE.test(req.ifName) || req.ifName === '.' || req.ifName === '..') {
    throw invalid(`interface name "${req.ifName}" is not a valid Linux interface name (1-${IFNAME_MAX_LENGTH} characters, no spaces, / or :)`);
  }
  const netns = netnsRefFromPath(req.netnsPath);
  if (netns === null) throw invalid(`netns "${req.netnsPath}" is not an absolute path`);
  if (req.addresses.length === 0) throw invalid('a pod needs at least one address');
  req.addresses.forEach(checkAddress);
  for (const family of [4, 6] as const) {
    if (req.addresses.filter((a) => a.family === family).length > 1) {
      // One default route per family through one gateway; several addresses
      // of one family would work, but nothing hands them out yet.
      throw invalid(`more than one IPv${family} address for one pod is not supported`);
    }
  }
  if (!Number.isInteger(req.mtu) || req.mtu < MIN_MTU || req.mtu > MAX_MTU) {
    throw invalid(`mtu ${req.mtu} is outside ${MIN_MTU}-${MAX_MTU} (resolve 0 with resolveMtu first)`);
  }
  const mtu = req.mtu;

  const host = hostVethName(req);
  const pod = req.ifName;
  const podMac = podMacAddress(req.containerId);
  const hasV4 = req.addresses.some((a) => a.family === 4);
  const hasV6 = req.addresses.some((a) => a.family === 6);
  const addresses = req.addresses.map((a) => ({ ...a }));

  const hostAddresses = hasV6 ? [{ family: 6 as const, address: POD_GATEWAY_IPV6, prefixLength: 64 }] : [];
  const hostRoutes: PlannedRoute[] = addresses.map((a) => ({
    family: a.family,
    dst: `${a.address}/${a.prefixLength}`,
    gateway: null,
    dev: host,
    protocol: WORKLOAD_ROUTE_PROTOCOL,
    isOnlink: false,
  }));
  const podRoutes: PlannedRoute[] = [];
  if (hasV4) podRoutes.push({ family: 4, dst: '0.0.0.0/0', gateway: POD_GATEWAY_IPV4, dev: pod, protocol: null, isOnlink: true });
  if (hasV6) podRoutes.push({ family: 6, dst: '::/0', gateway: POD_GATEWAY_IPV6, dev: pod, protocol: null, isOnlink: false });

  const sysctls: SysctlSetting[] = [];
  if (hasV4) {
    sysctls.push(
      // Answer the pod's ARP for 169.254.1.1 (any address routed elsewhere) with our MAC...
      { key: `net/ipv4/conf/${host}/proxy_arp`, value: '1' },
      // ...at once: the default proxy_delay holds broadcast requests up to 0.8 s.
      { key: `net/ipv4/neigh/${host}/proxy_delay`, value: '0' },
      // Route packets coming from the pod (per device: the host's ip_forward is not touched).
      { key: `net/ipv4/conf/${host}/forwarding`, value: '1' },
    );
  }
  if (hasV6) {
    // Router behaviour on the pod's link (router flag in NAs, no RA processing).
    // Forwarding between pods still needs net.ipv6.conf.all.forwarding, which is the node agent's.
    sysctls.push({ key: `net/ipv6/conf/${host}/forwarding`, value: '1' });
  }

  const hostCommands = [
    // One command makes both ends, the pod end directly in its namespace (DESIGN.md: no namespace move).
    `link add ${host} mtu ${mtu} address ${HOST_VETH_MAC} type veth peer name ${pod} mtu ${mtu} address ${podMac} netns ${netns.path}`,
    `link set ${host} up`,
    // Proxy ARP answers only for an address the host routes through another device;
    // a host without a default route would leave the pods' gateway silent (calico#3270).
    ...(hasV4 ? [GATEWAY_ROUTE_COMMAND] : []),
    ...hostAddresses.map((a) => `addr add ${a.address}/${a.prefixLength} dev ${host} nodad`),
    ...hostRoutes.map((r) => `route replace ${r.dst} dev ${host}${r.family === 4 ? ' scope link' : ''} proto ${WORKLOAD_ROUTE_PROTOCOL}`),
  ];
  const podCommands = [
    `link set ${pod} up`,
    // nodad: the address is usable at once, nothing waits for duplicate address detection.
    ...addresses.map((a) => `addr add ${a.address}/${a.prefixLength} dev ${pod}${a.family === 6 ? ' nodad' : ''}`),
    ...podRoutes.map((r) => `route add ${r.dst} via ${r.gateway ?? ''} dev ${pod}${r.isOnlink ? ' onlink' : ''}`),
  ];
  return {
    hostIfName: host,
    podIfName: pod,
    netns,
    mtu,
    hostMac: HOST_VETH_MAC,
    podMac,
    addresses,
    hostAddresses,
    podRoutes,
    hostRoutes,
    sysctls,
    hostCommands,
    podCommands,
    undoCommands: [`link del ${host}`],
  };
}

export interface DetachRequest {
  containerId: string;
  podNamespace?: string | null;
  podName?: string | null;
  ifName: string;
  /** CNI_NETNS; null or '' when the runtime no longer has one. */
  netnsPath: string | null;
}

export interface DetachPlan {
  /** The host end the attachment had (for logs and checks; it goes with the pod end). */
  hostIfName: string;
  podIfName: string;
  /** Null when there is no namespace to clean: the veth pair went with it. */
  netns: NetnsRef | null;
  /** `ip -batch` lines in the pod's namespace. */
  podCommands: string[];
}

/**
 * DEL removes the pod end inside the pod's own namespace; the kernel deletes
 * the host end with it, and every route through the host end with that. This
 * is precise where deleting the host end by name is not: the name comes from
 * namespace.pod, so a new sandbox of the same pod may already own it when the
 * runtime deletes the old one (Calico cleans up from the pod side too).
 */
export function planDetach(req: DetachRequest): DetachPlan {
  const netns = req.netnsPath ? netnsRefFromPath(req.netnsPath) : null;
  return {
    hostIfName: hostVethName(req),
    podIfName: req.ifName,
    netns,
    podCommands: [`link del ${req.ifName}`],
  };
}

/** What the kernel holds for a plan, as read by attach.ts `readAttachment`. */
export interface ActualAttachment {
  hostLink: IpLink | null;
  /** Null also when the namespace does not exist. */
  podLink: IpLink | null;
  podAddresses: IpAddress[];
  podRoutes: IpRoute[];
  hostAddresses: IpAddress[];
  hostRoutes: IpRoute[];
  /** Host sysctl values by key (missing key: could not be read). */
  sysctls: Record<string, string>;
}

function routeMatches(want: PlannedRoute, have: IpRoute): boolean {
  return (
    have.dst === want.dst &&
    have.dev === want.dev &&
    (have.gateway ?? null) === want.gateway &&
    (want.protocol === null || have.protocol === want.protocol)
  );
}

function describeRoute(r: PlannedRoute): string {
  return `${r.dst}${r.gateway === null ? '' : ` via ${r.gateway}`} dev ${r.dev}${r.protocol === null ? '' : ` proto ${r.protocol}`}`;
}

/**
 * How the kernel differs from the plan, one sentence per difference (empty:
 * they agree). Only what the plan asks for is compared; extra addresses or
 * routes someone else added (a chained plugin's) are not a difference.
 */
export function diffAttachment(plan: AttachmentPlan, actual: ActualAttachment): string[] {
  const problems: string[] = [];
  const { hostLink, podLink } = actual;
  if (hostLink === null) problems.push(`host interface ${plan.hostIfName} does not exist`);
  else {
    if (hostLink.kind !== null && hostLink.kind !== 'veth') problems.push(`host interface ${plan.hostIfName} is a ${hostLink.kind}, not a veth`);
    if (!hostLink.isUp) problems.push(`host interface ${plan.hostIfName} is down`);
    if (hostLink.mtu !== plan.mtu) problems.push(`host interface ${plan.hostIfName} has MTU ${hostLink.mtu}, want ${plan.mtu}`);
  }
  if (podLink === null) problems.push(`interface ${plan.podIfName} does not exist in ${plan.netns.path}`);
  else {
    if (podLink.kind !== null && podLink.kind !== 'veth') problems.push(`interface ${plan.podIfName} is a ${podLink.kind}, not a veth`);
    if (!podLink.isUp) problems.push(`interface ${plan.podIfName} is down`);
    if (podLink.mtu !== plan.mtu) problems.push(`interface ${plan.podIfName} has MTU ${podLink.mtu}, want ${plan.mtu}`);
  }
  if (hostLink !== null && podLink !== null && (hostLink.peerIfindex !== podLink.ifindex || podLink.peerIfindex !== hostLink.ifindex)) {
    problems.push(`${plan.podIfName} in ${plan.netns.path} is not the peer of host interface ${plan.hostIfName}`);
  }
  for (const a of plan.addresses) {
    const found = actual.podAddresses.some(
      (h) => h.ifname === plan.podIfName && h.family === a.family && h.address === a.address && h.prefixLength === a.prefixLength,
    );
    if (!found) problems.push(`address ${a.address}/${a.prefixLength} is missing on ${plan.podIfName}`);
  }
  for (const a of plan.hostAddresses) {
    const found = actual.hostAddresses.some(
      (h) => h.ifname === plan.hostIfName && h.family === a.family && h.address === a.address && h.prefixLength === a.prefixLength,
    );
    if (!found) problems.push(`address ${a.address}/${a.prefixLength} is missing on host interface ${plan.hostIfName}`);
  }
  for (const r of plan.podRoutes) {
    if (!actual.podRoutes.some((h) => routeMatches(r, h))) problems.push(`route ${describeRoute(r)} is missing in the pod`);
  }
  for (const r of plan.hostRoutes) {
    if (!actual.hostRoutes.some((h) => routeMatches(r, h))) problems.push(`route ${describeRoute(r)} is missing on the host`);
  }
  for (const s of plan.sysctls) {
    const have = actual.sysctls[s.key];
    if (have !== s.value) problems.push(`sysctl ${s.key} is ${have ?? 'unreadable'}, want ${s.value}`);
  }
  return problems;
}
