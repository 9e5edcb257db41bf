/**
 * This host's address for BGP and CrossSubnet decisions, found as calico/node
 * finds it (IP_AUTODETECTION_METHOD), from what `ip -json link` / `addr` /
 * `route get` say. Pure: the shell reads the kernel and passes it in.
 */
import { cidrContainsIp, parseCidr, parseIp, type IpFamily } from '../../../lib/cidr.js';
import { HOST_VETH_PREFIX, IPIP_DEVICE, VXLAN_DEVICE } from '../../../lib/contract.js';
import type { IpAddress, IpLink } from '../../../lib/kernel/ip-json.js';
import type { AutodetectionMethod } from './config.js';

/**
 * Interfaces first-found never picks: loopback, container and virtual bridges,
 * other CNIs' and our own devices (calico/node's list, plus tortie's names).
 */
export const EXCLUDED_INTERFACES: readonly RegExp[] = [
  /^lo$/,
  /^docker/,
  /^cbr/,
  /^dummy/,
  /^virbr/,
  /^lxcbr/,
  /^veth/,
  /^cali/,
  /^tunl/,
  /^flannel/,
  /^kube-ipvs/,
  /^cni/,
  /^vxlan\.calico/,
  /^vxlan-v6\.calico/,
  /^wireguard\.cali/,
  /^br-/,
  /^nodelocaldns/,
  new RegExp(`^${HOST_VETH_PREFIX}`),
  new RegExp(`^${IPIP_DEVICE}$`),
  new RegExp(`^${VXLAN_DEVICE.replace('.', '\\.')}`),
];

/** An address with the prefix length of its subnet, as Node spec.bgp.ipv4Address holds it. */
export interface DetectedAddress {
  readonly address: string;
  readonly prefixLength: number;
  readonly ifname: string;
}

export interface HostInterfaces {
  readonly links: readonly IpLink[];
  readonly addresses: readonly IpAddress[];
}

function usable(a: IpAddress, family: IpFamily): boolean {
  if (a.family !== family || a.scope !== 'global' || a.isTentative) return false;
  // An IPv6 link-local address is never a node address, whatever scope it is listed with.
  return family === 4 || !a.address.toLowerCase().startsWith('fe80:');
}

function firstOn(host: HostInterfaces, family: IpFamily, pickInterface: (name: string) => boolean, pickAddress: (a: IpAddress) => boolean = () => true): DetectedAddress | null {
  const upByIndex = new Map(host.links.filter((l) => l.isUp).map((l) => [l.ifindex, l]));
  const ordered = [...host.addresses].filter((a) => upByIndex.has(a.ifindex)).sort((x, y) => x.ifindex - y.ifindex);
  for (const a of ordered) {
    if (usable(a, family) && pickInterface(a.ifname) && pickAddress(a)) return { address: a.address, prefixLength: a.prefixLength, ifname: a.ifname };
  }
  return null;
}

const isExcluded = (name: string): boolean => EXCLUDED_INTERFACES.some((re) => re.test(name));

/**
 * The address a method picks, or null. For can-reach, `routeSource` is the
 * source address the kernel would use towards the destination (`ip route get`).
 */
export function detectAddress(method: AutodetectionMethod, family: IpFamily, host: HostInterfaces, routeSource: string | null = null): DetectedAddress | null {
  switch (method.kind) {
    case 'first-found':
      return firstOn(host, family, (name) => !isExcluded(name));
    case 'interface':
      return firstOn(host, family, (name) => method.pattern.test(name));
    case 'skip-interface':
      return firstOn(host, family, (name) => !isExcluded(name) && !method.pattern.test(name));
    case 'can-reach':
      return routeSource === null ? null : findAddress(host, routeSource);
    case 'cidr': {
      const cidrs = method.cidrs.map(parseCidr).filter((c) => c !== null);
      return firstOn(host, family, () => true, (a) => {
        const ip = parseIp(a.address);
        return ip !== null && cidrs.some((c) => cidrContainsIp(c, ip.family, ip.value));
      });
    }
  }
}

/** The interface and prefix length of one of this host's addresses, or null when the host has no such address. */
export function findAddress(host: HostInterfaces, address: string): DetectedAddress | null {
  const wanted = parseIp(address);
  if (wanted === null) return null;
  const found = host.addresses.find((a) => {
    const ip = parseIp(a.address);
    return ip !== null && ip.family === wanted.family && ip.value === wanted.value;
  });
  return found === undefined ? null : { address: found.address, prefixLength: found.prefixLength, ifname: found.ifname };
}

/** What to say when a method finds nothing: what it looked at, and what to try. */
export function describeDetectionFailure(method: AutodetectionMethod, family: IpFamily, variable: string): string {
  const how =
    method.kind === 'first-found'
      ? 'no interface that is up (other than loopback, bridges and CNI devices) has a global address'
      : method.kind === 'interface'
        ? `no interface that is up and matches ${String(method.pattern)} has a global address`
        : method.kind === 'skip-interface'
          ? `every interface that is up and has a global address is excluded or matches ${String(method.pattern)}`
          : method.kind === 'can-reach'
            ? `this host has no route to ${method.destination}, or its source address is on no interface`
            : `no interface that is up has an address in ${method.cidrs.join(', ')}`;
  return `cannot autodetect this host's IPv${family} address: ${how}; set ${variable} to another method, or IP${family === 6 ? '6' : ''} to the address`;
}
