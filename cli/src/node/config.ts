/**
 * The node agent's startup settings, from the same environment variables as
 * calico/node reads (DESIGN.md "What a user does"): a calico.yaml user
 * changes image names, not settings. Parsed once, frozen; every error names
 * the variable and what it accepts.
 */
import { parseAsNumber } from '../../../crds/src/fields/as-number.js';
import { parseCidr, parseIp } from '../../../lib/cidr.js';
import { envValue, invalidSetting, parseBooleanSetting, type Env } from '../../../lib/env-settings.js';
import { TortieError } from '../../../lib/errors.js';

export type EncapsulationMode = 'Always' | 'CrossSubnet' | 'Never';
export type NetworkingBackend = 'bird' | 'vxlan' | 'none';

/** How to find this host's address of one family (calico/node's IP / IP6 settings). */
export type AddressSetting =
  /** Unset: keep the Node's address if it has one, else autodetect (IPv4) or none (IPv6). */
  | { kind: 'keep-or-detect' }
  | { kind: 'autodetect' }
  | { kind: 'none' }
  | { kind: 'fixed'; address: string; prefixLength: number | null };

export type AutodetectionMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; pattern: RegExp }
  | { kind: 'skip-interface'; pattern: RegExp }
  | { kind: 'can-reach'; destination: string }
  | { kind: 'cidr'; cidrs: readonly string[] };

export interface DefaultPoolSettings {
  readonly cidr: string;
  readonly blockSize: number;
  readonly ipipMode: EncapsulationMode;
  readonly vxlanMode: EncapsulationMode;
  readonly natOutgoing: boolean;
  readonly nodeSelector: string;
}

export interface NodeStartupConfig {
  /** From NODENAME; null when unset (then the name file, HOSTNAME, the OS host name). */
  readonly nodeNameSetting: string | null;
  readonly hostnameSetting: string | null;
  readonly ipv4: AddressSetting;
  readonly ipv4Method: AutodetectionMethod;
  readonly ipv6: AddressSetting;
  readonly ipv6Method: AutodetectionMethod;
  /** AS: saved in the Node when set; the BGPConfiguration's default applies otherwise. */
  readonly asNumber: number | null;
  readonly backend: NetworkingBackend;
  readonly isNodeIpCheckDisabled: boolean;
  /** null: NO_DEFAULT_POOLS, or no IPv6 pool asked for. */
  readonly defaultIpv4Pool: DefaultPoolSettings | null;
  readonly defaultIpv6Pool: DefaultPoolSettings | null;
}

function parseMode(env: Env, name: string): EncapsulationMode | undefined {
  const v = envValue(env, name);
  if (v === undefined) return undefined;
  switch (v.toLowerCase()) {
    case 'always':
      return 'Always';
    case 'crosssubnet':
    case 'cross-subnet':
      return 'CrossSubnet';
    case 'never':
    case 'off':
      return 'Never';
    default:
      throw invalidSetting(name, v, 'use Always, CrossSubnet or Never');
  }
}

function parseAddressSetting(env: Env, name: string, family: 4 | 6): AddressSetting {
  const v = envValue(env, name);
  if (v === undefined) return { kind: 'keep-or-detect' };
  if (v.toLowerCase() === 'autodetect') return { kind: 'autodetect' };
  if (v.toLowerCase() === 'none') return { kind: 'none' };
  const [address = '', length] = v.split('/');
  const ip = parseIp(address);
  const prefixLength = length === undefined ? null : Number(length);
  if (ip === null || ip.family !== family || (prefixLength !== null && !(Number.isInteger(prefixLength) && prefixLength >= 0 && prefixLength <= (family === 4 ? 32 : 128)))) {
    throw invalidSetting(name, v, `use autodetect, none, or an IPv${family} address of this host (optionally with its prefix length, e.g. ${family === 4 ? '192.0.2.10/24' : '2001:db8::10/64'})`);
  }
  return { kind: 'fixed', address, prefixLength };
}

const METHODS = 'first-found, interface=REGEX, skip-interface=REGEX, can-reach=ADDRESS or cidr=CIDR[,CIDR...]';

function parseRegex(name: string, given: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw invalidSetting(name, given, `not a regular expression: ${(err as Error).message}`);
  }
}

function parseMethod(env: Env, name: string, family: 4 | 6): AutodetectionMethod {
  const v = envValue(env, name);
  if (v === undefined || v === 'first-found') return { kind: 'first-found' };
  const eq = v.indexOf('=');
  const key = eq < 0 ? v : v.slice(0, eq);
  const arg = eq < 0 ? '' : v.slice(eq + 1).trim();
  switch (key) {
    case 'interface':
    case 'skip-interface':
      if (arg === '') throw invalidSetting(name, v, `${key}= needs a regular expression, e.g. ${key}=eth.*`);
      return { kind: key, pattern: parseRegex(name, v, arg) };
    case 'can-reach': {
      const ip = parseIp(arg);
      if (ip === null || ip.family !== family) throw invalidSetting(name, v, `can-reach= needs an IPv${family} address to route towards (names are not resolved)`);
      return { kind: 'can-reach', destination: arg };
    }
    case 'cidr': {
      const cidrs = arg.split(',').map((c) => c.trim()).filter((c) => c !== '');
      const bad = cidrs.find((c) => parseCidr(c)?.family !== family);
      if (cidrs.length === 0 || bad !== undefined) throw invalidSetting(name, v, `cidr= needs IPv${family} CIDRs, e.g. cidr=${family === 4 ? '10.0.0.0/8' : 'fd00::/8'}`);
      return { kind: 'cidr', cidrs };
    }
    case 'kubernetes-internal-ip':
      throw invalidSetting(name, v, `kubernetes-internal-ip is not supported yet; use ${METHODS}`);
    default:
      throw invalidSetting(name, v, `unknown method; use ${METHODS}`);
  }
}

function parseBackend(env: Env): NetworkingBackend {
  const v = envValue(env, 'CALICO_NETWORKING_BACKEND');
  if (v === undefined) return 'bird';
  const lower = v.toLowerCase();
  if (lower === 'bird' || lower === 'vxlan' || lower === 'none') return lower;
  throw invalidSetting('CALICO_NETWORKING_BACKEND', v, 'use bird (BGP), vxlan or none');
}

function parseBlockSize(env: Env, name: string, family: 4 | 6, fallback: number): number {
  const v = envValue(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  const [min, max] = family === 4 ? [20, 32] : [116, 128];
  if (!Number.isInteger(n) || n < min || n > max) throw invalidSetting(name, v, `use a prefix length from ${min} to ${max}`);
  return n;
}

function parsePool(env: Env, family: 4 | 6, backend: NetworkingBackend): DefaultPoolSettings | null {
  const p = family === 4 ? 'CALICO_IPV4POOL_' : 'CALICO_IPV6POOL_';
  const cidrText = envValue(env, `${p}CIDR`) ?? (family === 4 ? '192.168.0.0/16' : undefined);
  if (cidrText === undefined) return null;
  const cidr = parseCidr(cidrText);
  if (cidr === null || cidr.family !== family) throw invalidSetting(`${p}CIDR`, cidrText, `use an IPv${family} CIDR, e.g. ${family === 4 ? '10.244.0.0/16' : 'fd00:10:244::/48'}`);
  const blockSize = parseBlockSize(env, `${p}BLOCK_SIZE`, family, family === 4 ? 26 : 122);
  if (blockSize < cidr.prefixLength) throw invalidSetting(`${p}BLOCK_SIZE`, String(blockSize), `blocks must fit in ${cidrText}: use ${cidr.prefixLength} or more`);
  const givenIpip = family === 4 ? parseMode(env, `${p}IPIP`) : undefined;
  const givenVxlan = parseMode(env, `${p}VXLAN`);
  // calico/node's defaults: IPIP for the BGP backend, VXLAN for the vxlan one, neither when both are left out otherwise.
  const ipipMode: EncapsulationMode = givenIpip ?? (givenVxlan === undefined && family === 4 && backend === 'bird' ? 'Always' : 'Never');
  const vxlanMode: EncapsulationMode = givenVxlan ?? (givenIpip === undefined && backend === 'vxlan' ? 'Always' : 'Never');
  if (ipipMode !== 'Never' && vxlanMode !== 'Never') {
    throw new TortieError('ERR_CONFIG_INVALID', `${p}IPIP=${ipipMode} and ${p}VXLAN=${vxlanMode}: a pool uses one encapsulation; set one of them to Never`);
  }
  if (backend === 'vxlan' && ipipMode !== 'Never') {
    throw new TortieError('ERR_CONFIG_INVALID', `${p}IPIP=${ipipMode} with CALICO_NETWORKING_BACKEND=vxlan: IPIP routes need BGP; use ${p}VXLAN instead, or the bird backend`);
  }
  return Object.freeze({
    cidr: cidrText,
    blockSize,
    ipipMode,
    vxlanMode,
    natOutgoing: parseBooleanSetting(env, `${p}NAT_OUTGOING`, family === 4),
    nodeSelector: envValue(env, `${p}NODE_SELECTOR`) ?? 'all()',
  });
}

/** Pure: the environment → the frozen startup settings, or ERR_CONFIG_INVALID naming the variable. */
export function parseNodeStartupConfig(env: Env): NodeStartupConfig {
  const backend = parseBackend(env);
  const noDefaultPools = parseBooleanSetting(env, 'NO_DEFAULT_POOLS', false);
  if (noDefaultPools && envValue(env, 'CALICO_IPV4POOL_CIDR') !== undefined) {
    throw new TortieError('ERR_CONFIG_INVALID', 'NO_DEFAULT_POOLS=true and CALICO_IPV4POOL_CIDR are both set: the first says to create no pool, the second which pool to create; unset one');
  }
  const asText = envValue(env, 'AS');
  const asNumber = asText === undefined ? null : parseAsNumber(asText);
  if (asText !== undefined && asNumber === null) throw invalidSetting('AS', asText, 'use an AS number 1-4294967295 (asplain, e.g. 64512) or asdot (1.10)');
  return Object.freeze({
    nodeNameSetting: envValue(env, 'NODENAME') ?? null,
    hostnameSetting: envValue(env, 'HOSTNAME') ?? null,
    ipv4: parseAddressSetting(env, 'IP', 4),
    ipv4Method: parseMethod(env, 'IP_AUTODETECTION_METHOD', 4),
    ipv6: parseAddressSetting(env, 'IP6', 6),
    ipv6Method: parseMethod(env, 'IP6_AUTODETECTION_METHOD', 6),
    asNumber,
    backend,
    isNodeIpCheckDisabled: parseBooleanSetting(env, 'DISABLE_NODE_IP_CHECK', false),
    defaultIpv4Pool: noDefaultPools ? null : parsePool(env, 4, backend),
    defaultIpv6Pool: noDefaultPools ? null : parsePool(env, 6, backend),
  });
}
