/**
 * Typed values for what `ip -json` prints, and the pure parsers that make
 * them. No I/O here: `ip.ts` runs the commands, these functions turn their
 * stdout into data (tested on captured output in `fixtures/`).
 *
 * iproute2's JSON leaves fields out when they hold the default (a route's
 * `type` unicast, `table` main, `scope` universe, `protocol` boot) and when
 * they were a filter of the command (`ip route show dev X` drops `dev`). The
 * parsers fill the defaults in; callers that filter pass the filter value
 * back (see `parseRoutes`' `defaults`), so a value never lies by omission.
 */
import { z } from 'zod';
import type { IpFamily } from '../cidr.js';
import { TortieError } from '../errors.js';

export interface IpLink {
  ifindex: number;
  name: string;
  /** Kernel flags as printed: `UP`, `LOWER_UP`, `NO-CARRIER`, `BROADCAST`... */
  flags: string[];
  /** Administratively up (the `UP` flag), whatever the carrier. */
  isUp: boolean;
  mtu: number;
  operState: string;
  /** MAC address, lower case; '' for devices without one. */
  macAddress: string;
  /** `linkinfo.info_kind` (`veth`, `vxlan`, ...); only present with `ip -d`, else null. */
  kind: string | null;
  /** For a veth: the peer's ifindex, in the peer's namespace. */
  peerIfindex: number | null;
  /** The netns id (relative to this namespace) of the peer, when it is elsewhere. */
  peerNetnsId: number | null;
  /** A VXLAN device's parameters (`ip -d`); null or absent for other links. */
  vxlan?: VxlanInfo | null;
}

export interface VxlanInfo {
  /** VNI. */
  id: number;
  /** Source address of the outer packets, or null when unset. */
  local: string | null;
  /** UDP destination port. */
  port: number;
  isLearning: boolean;
}

/** A forwarding database entry (`bridge -json fdb show`). */
export interface FdbEntry {
  mac: string;
  dev: string | null;
  /** Remote VTEP of a VXLAN entry, or null. */
  dst: string | null;
  /** `self`, `master`, `extern_learn`... */
  flags: string[];
  /** `permanent`, `static`, or '' for a dynamic entry. */
  state: string;
}

export interface IpAddress {
  ifindex: number;
  ifname: string;
  family: IpFamily;
  /** The address without prefix length. */
  address: string;
  prefixLength: number;
  /** `global`, `link`, `host`... */
  scope: string;
  isTentative: boolean;
  hasNoDad: boolean;
}

export interface IpRoute {
  family: IpFamily;
  /** Always a CIDR: `default` becomes `0.0.0.0/0` or `::/0`, a bare host address gets /32 or /128. */
  dst: string;
  gateway: string | null;
  dev: string | null;
  /** Route type number (rtm_type): 1 unicast, 2 local, 3 broadcast, 5 multicast, 6 blackhole, 7 unreachable. */
  type: number;
  /** Table number: 254 main, 255 local. */
  table: number;
  /** Protocol number (rtm_protocol): 2 kernel, 3 boot, 4 static, ROUTE_PROTOCOL for ours. */
  protocol: number;
  /** Scope number: 0 universe, 253 link, 254 host. */
  scope: number;
  metric: number;
  prefsrc: string | null;
  /** `onlink`, `linkdown`, ... */
  flags: string[];
  /** Multipath next hops; empty for a single-path route. */
  nexthops: { gateway: string | null; dev: string | null; flags: string[] }[];
}

export interface IpNeighbour {
  family: IpFamily;
  dst: string;
  dev: string | null;
  lladdr: string | null;
  /** `REACHABLE`, `STALE`, `PERMANENT`, ...; empty for proxy entries. */
  state: string[];
  isProxy: boolean;
  isRouter: boolean;
}

export const RouteType = { unicast: 1, local: 2, broadcast: 3, multicast: 5, blackhole: 6, unreachable: 7 } as const;
export const RouteTable = { main: 254, local: 255 } as const;
export const RouteProtocol = { kernel: 2, boot: 3, static: 4 } as const;
export const RouteScope = { universe: 0, link: 253, host: 254 } as const;

const linkSchema = z.object({
  ifindex: z.number().int(),
  ifname: z.string(),
  flags: z.array(z.string()).default([]),
  mtu: z.number().int(),
  operstate: z.string().default('UNKNOWN'),
  address: z.string().default(''),
  link_index: z.number().int().optional(),
  link_netnsid: z.number().int().optional(),
  linkinfo: z
    .object({
      info_kind: z.string().optional(),
      info_data: z.object({ id: z.number().int().optional(), local: z.string().optional(), port: z.number().int().optional(), learning: z.boolean().optional() }).loose().optional(),
    })
    .optional(),
});

const fdbSchema = z.object({
  mac: z.string(),
  ifname: z.string().optional(),
  dst: z.string().optional(),
  flags: z.array(z.string()).default([]),
  state: z.string().default(''),
});

const addrInfoSchema = z.object({
  family: z.enum(['inet', 'inet6']),
  local: z.string(),
  prefixlen: z.number().int(),
  scope: z.string().default('global'),
  tentative: z.boolean().optional(),
  nodad: z.boolean().optional(),
});
const addrLinkSchema = z.object({
  ifindex: z.number().int(),
  ifname: z.string(),
  // `ip addr show` prints links whose address list is filtered out as {} entries: keep them optional.
  addr_info: z.array(z.union([addrInfoSchema, z.object({}).loose()])).default([]),
});

// With `-N` numbers print as strings ("80"); be lenient and accept either.
const numeric = z.union([z.number(), z.string().regex(/^\d+$/)]).transform((v) => Number(v));
const nexthopSchema = z.object({
  gateway: z.string().optional(),
  dev: z.string().optional(),
  flags: z.array(z.string()).default([]),
});
const routeSchema = z.object({
  dst: z.string(),
  gateway: z.string().optional(),
  dev: z.string().optional(),
  type: numeric.optional(),
  table: numeric.optional(),
  protocol: numeric.optional(),
  scope: numeric.optional(),
  metric: z.number().int().optional(),
  prefsrc: z.string().optional(),
  flags: z.array(z.string()).default([]),
  nexthops: z.array(nexthopSchema).optional(),
});

const neighbourSchema = z.object({
  dst: z.string(),
  dev: z.string().optional(),
  lladdr: z.string().optional(),
  state: z.array(z.string()).default([]),
  proxy: z.null().optional(),
  router: z.null().optional(),
});

function parseArray<T extends z.ZodType>(what: string, stdout: string, item: T): z.output<T>[] {
  let raw: unknown;
  try {
    // `ip -json` prints nothing at all for an empty result in a few subcommands.
    raw = stdout.trim() === '' ? [] : JSON.parse(stdout);
  } catch (err) {
    throw new TortieError('ERR_KERNEL', `ip -json ${what}: output is not JSON`, { cause: err });
  }
  const parsed = z.array(item).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TortieError(
      'ERR_KERNEL',
      `ip -json ${what}: unexpected output at [${issue?.path.join('.') ?? ''}]: ${issue?.message ?? 'invalid'}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

/** `ip -json [-d] link show` */
export function parseLinks(stdout: string): IpLink[] {
  return parseArray('link', stdout, linkSchema).map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    flags: l.flags,
    isUp: l.flags.includes('UP'),
    mtu: l.mtu,
    operState: l.operstate,
    macAddress: l.address.toLowerCase(),
    kind: l.linkinfo?.info_kind ?? null,
    peerIfindex: l.link_index ?? null,
    peerNetnsId: l.link_netnsid ?? null,
    vxlan: vxlanInfoOf(l.linkinfo),
  }));
}

function vxlanInfoOf(info: z.output<typeof linkSchema>['linkinfo']): VxlanInfo | null {
  const data = info?.info_data;
  if (info?.info_kind !== 'vxlan' || data === undefined) return null;
  // iproute2 prints `learning` only as a boolean, and `local` only when set.
  return { id: data.id ?? 0, local: data.local ?? null, port: data.port ?? 0, isLearning: data.learning ?? true };
}

/** `bridge -json fdb show [dev X]` (a `dev` filter leaves `ifname` out: pass it back in `defaults`). */
export function parseFdb(stdout: string, defaults: { dev?: string } = {}): FdbEntry[] {
  return parseArray('fdb', stdout, fdbSchema).map((e) => ({
    mac: e.mac.toLowerCase(),
    dev: e.ifname ?? defaults.dev ?? null,
    dst: e.dst ?? null,
    flags: e.flags,
    state: e.state,
  }));
}

/** `ip -json addr show` */
export function parseAddresses(stdout: string): IpAddress[] {
  const out: IpAddress[] = [];
  for (const link of parseArray('addr', stdout, addrLinkSchema)) {
    for (const a of link.addr_info) {
      const info = addrInfoSchema.safeParse(a);
      if (!info.success) continue; // an empty {} placeholder, not an address
      out.push({
        ifindex: link.ifindex,
        ifname: link.ifname,
        family: info.data.family === 'inet' ? 4 : 6,
        address: info.data.local,
        prefixLength: info.data.prefixlen,
        scope: info.data.scope,
        isTentative: info.data.tentative === true,
        hasNoDad: info.data.nodad === true,
      });
    }
  }
  return out;
}

/** A destination as iproute2 prints it (`default`, `10.0.0.1`, `10.0.0.0/24`) as a CIDR. */
export function normaliseRouteDst(family: IpFamily, dst: string): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

/** Values of fields the command filtered on (iproute2 leaves them out of its output). */
export interface RouteDefaults {
  dev?: string;
  table?: number;
  protocol?: number;
}

/** `ip -N -json -4|-6 route show ...` (`-N`: protocol, scope, type and table as numbers). */
export function parseRoutes(stdout: string, family: IpFamily, defaults: RouteDefaults = {}): IpRoute[] {
  return parseArray('route', stdout, routeSchema).map((r) => ({
    family,
    dst: normaliseRouteDst(family, r.dst),
    gateway: r.gateway ?? null,
    dev: r.dev ?? defaults.dev ?? null,
    type: r.type ?? RouteType.unicast,
    table: r.table ?? defaults.table ?? RouteTable.main,
    protocol: r.protocol ?? defaults.protocol ?? RouteProtocol.boot,
    scope: r.scope ?? RouteScope.universe,
    metric: r.metric ?? 0,
    prefsrc: r.prefsrc ?? null,
    flags: r.flags,
    nexthops: (r.nexthops ?? []).map((n) => ({ gateway: n.gateway ?? null, dev: n.dev ?? null, flags: n.flags })),
  }));
}

/** `ip -json -4|-6 neigh show [proxy]` */
export function parseNeighbours(stdout: string, family: IpFamily, defaults: { dev?: string } = {}): IpNeighbour[] {
  return parseArray('neigh', stdout, neighbourSchema).map((n) => ({
    family,
    dst: n.dst,
    dev: n.dev ?? defaults.dev ?? null,
    lladdr: n.lladdr?.toLowerCase() ?? null,
    state: n.state,
    isProxy: 'proxy' in n,
    isRouter: 'router' in n,
  }));
}
