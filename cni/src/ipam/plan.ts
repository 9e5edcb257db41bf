/**
 * What one IPAM ADD should do (pure): from the tortie-ipam config, the pod's
 * and namespace's annotations, the pools and the node's labels, decide either
 * "auto-assign N addresses from these pools" or "take exactly these
 * addresses". Precedence, as in Calico: pod annotation, then namespace
 * annotation, then the config's `ipv4_pools`/`ipv6_pools`, then every pool
 * that selects the node.
 */
import { ANNOTATION_IP_ADDRS, ANNOTATION_IPV4_POOLS, ANNOTATION_IPV6_POOLS } from '../../../lib/contract.js';
import { parseIp } from '../../../lib/cidr.js';
import type { Labels } from '../../../lib/selector/ast.js';
import { type PoolInfo, selectPools } from './allocate.js';

export interface IpamPlanInput<P extends PoolInfo> {
  assignIpv4: boolean;
  assignIpv6: boolean;
  configIpv4Pools?: readonly string[];
  configIpv6Pools?: readonly string[];
  podAnnotations: Readonly<Record<string, string>>;
  namespaceAnnotations: Readonly<Record<string, string>>;
  pools: readonly P[];
  nodeLabels: Labels;
}

export type IpamPlan<P extends PoolInfo> =
  | { ok: true; kind: 'auto'; pools: P[]; num4: number; num6: number }
  | { ok: true; kind: 'addresses'; addresses: string[]; pools: P[] }
  /** `field` names what to fix: an annotation key or a config field. */
  | { ok: false; field: string; reason: string };

/** A JSON list of strings in an annotation; null when absent; a string when malformed (the reason). */
function stringList(annotations: Readonly<Record<string, string>>, key: string): string[] | null | { error: string } {
  const text = annotations[key];
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: reported to the user below, with the text.
    return { error: `${JSON.stringify(text)} is not JSON; write a list such as ["default-ipv4-ippool"]` };
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    return { error: `${JSON.stringify(text)} is not a JSON list of non-empty strings` };
  }
  return value as string[];
}

export function planIpam<P extends PoolInfo>(input: IpamPlanInput<P>): IpamPlan<P> {
  const addrs = stringList(input.podAnnotations, ANNOTATION_IP_ADDRS);
  if (addrs !== null && !Array.isArray(addrs)) return { ok: false, field: `annotation ${ANNOTATION_IP_ADDRS}`, reason: addrs.error };
  if (addrs !== null) {
    const families = { 4: 0, 6: 0 };
    for (const a of addrs) {
      const ip = parseIp(a);
      if (ip === null) return { ok: false, field: `annotation ${ANNOTATION_IP_ADDRS}`, reason: `${JSON.stringify(a)} is not an IP address` };
      families[ip.family]++;
    }
    if (families[4] > 1 || families[6] > 1) {
      return { ok: false, field: `annotation ${ANNOTATION_IP_ADDRS}`, reason: 'at most one IPv4 and one IPv6 address per pod' };
    }
    // Exact addresses may come from any pool that exists, disabled or not, as in Calico.
    return { ok: true, kind: 'addresses', addresses: addrs, pools: [...input.pools] };
  }

  const requested: { ipv4?: string[]; ipv6?: string[] } = {};
  for (const [family, key, fromConfig] of [
    ['ipv4', ANNOTATION_IPV4_POOLS, input.configIpv4Pools],
    ['ipv6', ANNOTATION_IPV6_POOLS, input.configIpv6Pools],
  ] as const) {
    const fromPod = stringList(input.podAnnotations, key);
    if (fromPod !== null && !Array.isArray(fromPod)) return { ok: false, field: `pod annotation ${key}`, reason: fromPod.error };
    const fromNamespace = stringList(input.namespaceAnnotations, key);
    if (fromNamespace !== null && !Array.isArray(fromNamespace)) return { ok: false, field: `namespace annotation ${key}`, reason: fromNamespace.error };
    const chosen = (fromPod as string[] | null) ?? (fromNamespace as string[] | null) ?? (fromConfig === undefined ? null : [...fromConfig]);
    if (chosen !== null) requested[family] = chosen;
  }
  const selected = selectPools(input.pools, input.nodeLabels, requested);
  if (!selected.ok) return { ok: false, field: 'pools', reason: selected.reason };
  return {
    ok: true,
    kind: 'auto',
    pools: [...(input.assignIpv4 ? selected.ipv4 : []), ...(input.assignIpv6 ? selected.ipv6 : [])],
    num4: input.assignIpv4 ? 1 : 0,
    num6: input.assignIpv6 ? 1 : 0,
  };
}
