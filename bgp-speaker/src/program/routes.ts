/**
 * Kernel routes from the Loc-RIB (STYLE.md §2: the kernel is one more
 * consumer of the RIB, as BIRD's kernel protocol). Pure:
 *
 *   planKernelRoutes(best paths, routing context) → desired KernelRoute[]
 *   planRouteChanges(desired, actual)               → { replace, delete }
 *   renderRouteBatch(changes)                        → `ip -batch` lines
 *
 * Every route carries ROUTE_PROTOCOL, and only routes read back with it are
 * ever compared or deleted, so routes we did not make are never touched.
 * The batch is not atomic, so replacements come before deletions: a moving
 * route is never absent.
 */
import { cidrContains, cidrContainsIp, parseCidr, parseIp, type Cidr } from '../../../lib/cidr.js';
import { IPIP_DEVICE, ROUTE_METRIC, ROUTE_PROTOCOL, VXLAN_DEVICE } from '../../../lib/contract.js';
import type { IpRoute } from '../../../lib/kernel/ip-json.js';
import type { Path } from '../rib/path.js';

export type KernelRouteType = 'unicast' | 'blackhole';

/**
 * Every route we program has ROUTE_METRIC (lib/contract.ts; BIRD's kernel
 * protocol uses 32 too). The kernel keys routes by destination and metric, so
 * a default route learned from a ToR sits beside the host's own default route
 * instead of overwriting it. Pod host routes carry WORKLOAD_ROUTE_PROTOCOL and
 * belong to the CNI plugin: they are never in `actual` here.
 */
export { ROUTE_METRIC };

export interface KernelRoute {
  /** Destination CIDR, canonical ("10.244.1.0/26"). */
  readonly dst: string;
  readonly type: KernelRouteType;
  readonly gateway: string | null;
  /** null: let the kernel choose the device that reaches the gateway. */
  readonly dev: string | null;
  /** `onlink`: the gateway is reachable through dev without a covering route (tunnels). */
  readonly isOnlink: boolean;
  readonly protocol: number;
  readonly metric: number;
}

export type EncapsulationMode = 'Always' | 'CrossSubnet' | 'Never';

/** The IPPool fields routing needs (crds' IPPoolSpec fits). */
export interface PoolRouting {
  readonly cidr: string;
  readonly ipipMode: EncapsulationMode;
  readonly vxlanMode: EncapsulationMode;
}

export interface RoutingContext {
  /** This node's affine blocks: each gets a blackhole route, so traffic for a free address in them goes nowhere (as Calico does). */
  readonly localBlocks: readonly string[];
  /** This node's own addresses; a learned path whose next hop is one of them is not programmed. */
  readonly nodeAddress: { readonly ipv4?: string | undefined; readonly ipv6?: string | undefined };
  /** The subnets of this node's interfaces: a next hop inside one is on our subnet (CrossSubnet) and directly reachable. */
  readonly localSubnets: readonly string[];
  readonly pools: readonly PoolRouting[];
  /**
   * Per peer node address, its VXLAN tunnel address; when a node has none
   * the node address itself is the onlink gateway on the VXLAN device (its
   * neighbour and FDB entries are program/tunnels' business).
   */
  readonly vxlanTunnelAddresses?: ReadonlyMap<string, string> | undefined;
  /**
   * The addresses of tortie nodes. When given, only a next hop among them is
   * tunnelled (a router's next hop, e.g. a ToR's without keepOriginalNextHop,
   * is routed plainly: it cannot decapsulate). When absent, every next hop
   * of a pool prefix is tunnelled, as Calico's BIRD template does.
   */
  readonly nodeAddresses?: ReadonlySet<string> | undefined;
}

function cidrOf(text: string): Cidr | null {
  return parseCidr(text);
}

function inAny(cidrs: readonly Cidr[], address: string): boolean {
  const ip = parseIp(address);
  return ip !== null && cidrs.some((c) => cidrContainsIp(c, ip.family, ip.value));
}

/** The pool holding a prefix: the most specific one when pools nest. */
function poolOf(pools: readonly { cidr: Cidr; pool: PoolRouting }[], prefix: Cidr): PoolRouting | null {
  let best: { cidr: Cidr; pool: PoolRouting } | null = null;
  for (const p of pools) {
    if (cidrContains(p.cidr, prefix) && (best === null || p.cidr.prefixLength > best.cidr.prefixLength)) best = p;
  }
  return best?.pool ?? null;
}

function encapsulates(mode: EncapsulationMode, isSameSubnet: boolean): boolean {
  return mode === 'Always' || (mode === 'CrossSubnet' && !isSameSubnet);
}

function route(dst: string, over: Partial<KernelRoute>): KernelRoute {
  return { dst, type: 'unicast', gateway: null, dev: null, isOnlink: false, protocol: ROUTE_PROTOCOL, metric: ROUTE_METRIC, ...over };
}

/**
 * The kernel routes the Loc-RIB's best paths call for:
 * - a blackhole for each of our own blocks;
 * - for each learned path (ours are skipped: the CNI plugin routes to our
 *   pods), by the pool its prefix is in:
 *   - VXLAN (Always, or CrossSubnet and the next hop on another subnet):
 *     via the peer's VXLAN tunnel address (or node address) dev VXLAN_DEVICE onlink;
 *   - IPIP (same rule, IPv4 only): via the next hop dev tunl0 onlink;
 *   - otherwise, and for prefixes outside every pool: via the next hop.
 *     A next hop on none of our subnets is resolved once through the other
 *     best paths (BIRD's recursive gateway, for iBGP next hops behind a
 *     router); a route whose next hop cannot be resolved is left out.
 */
export function planKernelRoutes(bests: Iterable<Path>, ctx: RoutingContext): KernelRoute[] {
  const byDst = new Map<string, KernelRoute>();
  for (const block of ctx.localBlocks) {
    const c = cidrOf(block);
    if (c !== null) byDst.set(block, route(block, { type: 'blackhole' }));
  }
  const subnets = ctx.localSubnets.map(cidrOf).filter((c): c is Cidr => c !== null);
  const pools = ctx.pools.flatMap((pool) => {
    const cidr = cidrOf(pool.cidr);
    return cidr === null ? [] : [{ cidr, pool }];
  });
  const own = new Set([ctx.nodeAddress.ipv4, ctx.nodeAddress.ipv6].filter((a): a is string => a !== undefined));
  const learned = [...bests].flatMap((path) => {
    if (path.peer === null || own.has(path.nextHop)) return [];
    const prefix = cidrOf(path.prefix);
    return prefix === null ? [] : [{ path, prefix }];
  });

  // Recursive next-hop resolution: the longest learned prefix holding the next hop, if its own next hop is on our subnet.
  const resolved = new Map<string, string | null>();
  const resolve = (nextHop: string): string | null => {
    if (subnets.length === 0 || inAny(subnets, nextHop)) return nextHop;
    const cached = resolved.get(nextHop);
    if (cached !== undefined) return cached;
    const ip = parseIp(nextHop);
    let best: { length: number; gateway: string } | null = null;
    if (ip !== null) {
      for (const { path: p, prefix: c } of learned) {
        if (!cidrContainsIp(c, ip.family, ip.value) || !inAny(subnets, p.nextHop)) continue;
        if (best === null || c.prefixLength > best.length) best = { length: c.prefixLength, gateway: p.nextHop };
      }
    }
    resolved.set(nextHop, best?.gateway ?? null);
    return best?.gateway ?? null;
  };

  for (const { path: p, prefix } of learned) {
    if (byDst.has(p.prefix)) continue;
    const pool = poolOf(pools, prefix);
    const isSameSubnet = inAny(subnets, p.nextHop);
    const isTunnelEnd = pool !== null && (ctx.nodeAddresses === undefined || ctx.nodeAddresses.has(p.nextHop));
    if (pool !== null && isTunnelEnd && encapsulates(pool.vxlanMode, isSameSubnet)) {
      const gateway = ctx.vxlanTunnelAddresses?.get(p.nextHop) ?? p.nextHop;
      byDst.set(p.prefix, route(p.prefix, { gateway, dev: VXLAN_DEVICE, isOnlink: true }));
    } else if (pool !== null && isTunnelEnd && prefix.family === 4 && encapsulates(pool.ipipMode, isSameSubnet)) {
      byDst.set(p.prefix, route(p.prefix, { gateway: p.nextHop, dev: IPIP_DEVICE, isOnlink: true }));
    } else {
      const gateway = resolve(p.nextHop);
      if (gateway !== null) byDst.set(p.prefix, route(p.prefix, { gateway }));
    }
  }
  return [...byDst.values()];
}

export interface RouteChanges {
  readonly replace: readonly KernelRoute[];
  readonly delete: readonly KernelRoute[];
}

/** A kernel route read back (`ip -json route show proto ROUTE_PROTOCOL`) in our shape. */
export function kernelRouteFromIp(r: IpRoute): KernelRoute {
  return {
    dst: r.dst,
    type: r.type === 6 ? 'blackhole' : 'unicast',
    gateway: r.gateway,
    dev: r.dev,
    isOnlink: r.flags.includes('onlink'),
    protocol: r.protocol,
    metric: r.metric,
  };
}

function canonicalAddress(text: string | null): string | null {
  if (text === null) return null;
  const ip = parseIp(text);
  return ip === null ? text : `${ip.family}:${ip.value}`;
}

/** True when the kernel's route already is the desired one (a desired dev of null accepts any device). */
export function isSameRoute(desired: KernelRoute, actual: KernelRoute): boolean {
  if (desired.type !== actual.type || desired.protocol !== actual.protocol || desired.metric !== actual.metric) return false;
  if (desired.type === 'blackhole') return true;
  return (
    canonicalAddress(desired.gateway) === canonicalAddress(actual.gateway) &&
    desired.isOnlink === actual.isOnlink &&
    (desired.dev === null || desired.dev === actual.dev)
  );
}

/** The kernel's identity of a route in one table: destination and metric. */
function routeKey(r: KernelRoute): string {
  const c = cidrOf(r.dst);
  return `${c === null ? r.dst : `${c.family}:${c.network}/${c.prefixLength}`} ${r.metric}`;
}

/**
 * The writes that turn `actual` into `desired`. Only actual routes with our
 * protocol are considered (a caller passing the whole table is safe);
 * identical routes cause no write.
 */
export function planRouteChanges(desired: readonly KernelRoute[], actual: readonly KernelRoute[]): RouteChanges {
  const ours = new Map<string, KernelRoute>();
  for (const r of actual) if (r.protocol === ROUTE_PROTOCOL) ours.set(routeKey(r), r);
  const wanted = new Set<string>();
  const replace: KernelRoute[] = [];
  for (const d of desired) {
    const key = routeKey(d);
    wanted.add(key);
    const a = ours.get(key);
    if (a === undefined || !isSameRoute(d, a)) replace.push(d);
  }
  const del = [...ours.entries()].filter(([key]) => !wanted.has(key)).map(([, r]) => r);
  return { replace, delete: del };
}

function describeRoute(r: KernelRoute): string {
  const parts: string[] = [];
  if (r.type === 'blackhole') parts.push('blackhole');
  parts.push(r.dst);
  if (r.type !== 'blackhole') {
    if (r.gateway !== null) parts.push('via', r.gateway);
    if (r.dev !== null) parts.push('dev', r.dev);
    if (r.isOnlink) parts.push('onlink');
  }
  parts.push('proto', String(r.protocol), 'metric', String(r.metric));
  return parts.join(' ');
}

/**
 * `ip -batch` lines for the changes: every `route replace` first, then every
 * `route del` (matched by destination, our protocol and our metric: the
 * kernel refuses to delete a route of someone else's).
 */
export function renderRouteBatch(changes: RouteChanges): string[] {
  return [
    ...changes.replace.map((r) => `route replace ${describeRoute(r)}`),
    ...changes.delete.map((r) => `route del ${r.type === 'blackhole' ? 'blackhole ' : ''}${r.dst} proto ${r.protocol} metric ${r.metric}`),
  ];
}
