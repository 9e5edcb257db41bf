/**
 * CNI results (pure): one version-neutral shape that the plugin builds, and
 * its conversion to the version the config declares (CNI spec §5 "Success").
 *
 * - 1.1.0: interfaces {name, mac, mtu, sandbox, socketPath, pciID}; ips
 *   {address, gateway, interface}; routes {dst, gw, mtu, advmss, priority,
 *   table, scope}; dns.
 * - 1.0.0: the same without the fields 1.1.0 added (interface mtu/socketPath/
 *   pciID, route mtu/advmss/priority/table/scope).
 * - 0.3.0, 0.3.1, 0.4.0: ips carry `version` ("4" | "6"); routes {dst, gw}.
 * Empty lists and an empty dns are left out, as libcni's `omitempty` does.
 * `parseResult` reads a result of any of these versions (a `prevResult`, or a
 * delegated IPAM plugin's answer) back into the neutral shape.
 */
import { z } from 'zod';
import { parseCidr, parseIp } from '../../lib/cidr.js';
import { CniError, CniErrorCodes } from './errors.js';
import { type CniVersion, isSupportedVersion, isVersion1 } from './version.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for an interface in the container; absent for one on the host. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  /** Address with prefix length: "10.244.1.7/32". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`; absent in an IPAM plugin's result. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in no particular version. */
export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

/** A result as printed, in one version's format. */
export type CniResultJson = { cniVersion: string } & Record<string, unknown>;

export function buildResult(parts: Partial<CniResult> = {}): CniResult {
  return { interfaces: parts.interfaces ?? [], ips: parts.ips ?? [], routes: parts.routes ?? [], dns: parts.dns ?? {} };
}

/** The IPAM plugin's abbreviated result: no interfaces and no interface index (spec §5 "Delegated plugins"). */
export function buildIpamResult(parts: { ips: CniIpConfig[]; routes?: CniRoute[]; dns?: CniDns }): CniResult {
  return buildResult({ ips: parts.ips.map(({ interface: _ignored, ...ip }) => ip), routes: parts.routes ?? [], dns: parts.dns ?? {} });
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined && o[k] !== '') out[k] = o[k];
  return out;
}

function ipVersion(address: string): '4' | '6' {
  const cidr = parseCidr(address);
  const family = cidr?.family ?? parseIp(address)?.family;
  if (family === undefined) throw new Error(`bug: result address ${JSON.stringify(address)} is not an address/prefix`);
  return family === 4 ? '4' : '6';
}

function dnsJson(dns: CniDns): CniDns | undefined {
  const out: CniDns = {};
  if (dns.nameservers !== undefined && dns.nameservers.length > 0) out.nameservers = dns.nameservers;
  if (dns.domain !== undefined && dns.domain !== '') out.domain = dns.domain;
  if (dns.search !== undefined && dns.search.length > 0) out.search = dns.search;
  if (dns.options !== undefined && dns.options.length > 0) out.options = dns.options;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The result in the format of `version`, ready for JSON.stringify. */
export function convertResult(result: CniResult, version: CniVersion): CniResultJson {
  const is11 = version === '1.1.0';
  const interfaceKeys = is11
    ? (['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] as const)
    : (['name', 'mac', 'sandbox'] as const);
  const routeKeys = is11 ? (['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] as const) : (['dst', 'gw'] as const);
  const out: CniResultJson = { cniVersion: version };
  if (result.interfaces.length > 0) out.interfaces = result.interfaces.map((i) => ({ name: i.name, ...pick(i, interfaceKeys) }));
  if (result.ips.length > 0) {
    out.ips = result.ips.map((ip) => ({
      ...(isVersion1(version) ? {} : { version: ipVersion(ip.address) }),
      address: ip.address,
      ...pick(ip, ['gateway', 'interface'] as const),
    }));
  }
  if (result.routes.length > 0) out.routes = result.routes.map((r) => ({ dst: r.dst, ...pick(r, routeKeys) }));
  const dns = dnsJson(result.dns);
  if (dns !== undefined) out.dns = dns;
  return out;
}

const interfaceSchema = z.looseObject({
  name: z.string().min(1),
  mac: z.string().optional(),
  mtu: z.int().nonnegative().optional(),
  sandbox: z.string().optional(),
  socketPath: z.string().optional(),
  pciID: z.string().optional(),
});
const ipSchema = z.looseObject({
  version: z.enum(['4', '6']).optional(),
  address: z.string().refine((a) => parseCidr(a) !== null, 'must be an address with a prefix length, e.g. 10.0.0.5/32'),
  gateway: z.string().refine((a) => parseIp(a) !== null, 'must be an IP address').optional(),
  interface: z.int().nonnegative().optional(),
});
const routeSchema = z.looseObject({
  dst: z.string().refine((a) => parseCidr(a) !== null, 'must be a CIDR'),
  gw: z.string().refine((a) => parseIp(a) !== null, 'must be an IP address').optional(),
  mtu: z.int().nonnegative().optional(),
  advmss: z.int().nonnegative().optional(),
  priority: z.int().nonnegative().optional(),
  table: z.int().nonnegative().optional(),
  scope: z.int().nonnegative().optional(),
});
const dnsSchema = z.looseObject({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});
const resultSchema = z.looseObject({
  cniVersion: z.string().optional(),
  interfaces: z.array(interfaceSchema).nullish(),
  ips: z.array(ipSchema).nullish(),
  routes: z.array(routeSchema).nullish(),
  dns: dnsSchema.nullish(),
});

/**
 * Reads a result of any supported version (a `prevResult`, a delegated IPAM
 * plugin's stdout). A malformed one is code 6 (decode), naming the field.
 * `version` on 0.x ips is dropped: it follows from the address.
 */
export function parseResult(json: unknown, what = 'prevResult'): CniResult {
  const parsed = resultSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CniError(CniErrorCodes.DecodingFailure, `${what}.${issue.path.join('.')}: ${issue.message}`, {
      details: parsed.error.issues.map((i) => `${what}.${i.path.join('.')}: ${i.message}`).join('\n'),
    });
  }
  const r = parsed.data;
  if (r.cniVersion !== undefined && !isSupportedVersion(r.cniVersion) && r.cniVersion !== '') {
    throw new CniError(CniErrorCodes.IncompatibleVersion, `${what} has cniVersion ${JSON.stringify(r.cniVersion)}, which this plugin does not read`);
  }
  const strip = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return {
    interfaces: (r.interfaces ?? []).map((i) =>
      strip({ name: i.name, mac: i.mac, mtu: i.mtu, sandbox: i.sandbox, socketPath: i.socketPath, pciID: i.pciID }),
    ),
    ips: (r.ips ?? []).map((ip) => strip({ address: ip.address, gateway: ip.gateway, interface: ip.interface })),
    routes: (r.routes ?? []).map((x) =>
      strip({ dst: x.dst, gw: x.gw, mtu: x.mtu, advmss: x.advmss, priority: x.priority, table: x.table, scope: x.scope }),
    ),
    dns: strip({ nameservers: r.dns?.nameservers, domain: r.dns?.domain, search: r.dns?.search, options: r.dns?.options }),
  };
}
