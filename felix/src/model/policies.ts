import type { SelectorAst } from '../../../lib/selector/ast.js';
import type { PortProtocol } from './endpoints.js';
import { LABEL_NAMESPACE, NAMESPACE_LABEL_PREFIX, SERVICE_ACCOUNT_LABEL_PREFIX, LABEL_SERVICE_ACCOUNT } from './endpoints.js';

/**
 * One normalized policy model. Kubernetes NetworkPolicy (k8s-network-policy.ts)
 * and tortie NetworkPolicy / GlobalNetworkPolicy (tortie-policy.ts) both
 * convert into it; the calculation never sees the resources.
 *
 * Every selector here is over an endpoint's *effective* labels
 * (effectiveEndpointLabels): namespace restrictions and namespace /
 * service-account selectors are already folded in.
 */
export type Direction = 'ingress' | 'egress';
export type RuleAction = 'Allow' | 'Deny' | 'Pass' | 'Log';
export type PolicyKind = 'KubernetesNetworkPolicy' | 'NetworkPolicy' | 'GlobalNetworkPolicy';

/**
 * Policies are evaluated in stages: first every tortie (Global)NetworkPolicy
 * by order, then the Kubernetes NetworkPolicies. A stage that has a policy for
 * an endpoint ends in drop unless a rule decided or passed.
 */
export type PolicyStage = 'tortie' | 'kubernetes';
export const STAGES: readonly PolicyStage[] = ['tortie', 'kubernetes'];

/** IP protocol numbers by the names policies use. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  ICMPV6: 58,
  SCTP: 132,
  UDPLITE: 136,
};
export const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 132, 136]);

export function protocolNumber(protocol: string | number): number | null {
  if (typeof protocol === 'number') return Number.isInteger(protocol) && protocol >= 0 && protocol <= 255 ? protocol : null;
  if (/^\d+$/.test(protocol)) return protocolNumber(Number(protocol));
  return PROTOCOL_NUMBERS[protocol.toUpperCase()] ?? null;
}

export function portProtocolOf(protocol: number): PortProtocol | null {
  return protocol === 6 ? 'TCP' : protocol === 17 ? 'UDP' : protocol === 132 ? 'SCTP' : null;
}

export type PortMatch = { readonly kind: 'range'; readonly first: number; readonly last: number } | { readonly kind: 'named'; readonly name: string };

export interface IcmpMatch {
  readonly type: number;
  readonly code: number | null;
}

/** Source or destination of a rule. Every present field must match (AND). */
export interface EntityMatch {
  /** Endpoints (and network sets) whose effective labels match; null = any address. */
  readonly selector: SelectorAst | null;
  readonly notSelector: SelectorAst | null;
  /** Canonical CIDRs; null = no constraint. An empty list matches nothing. */
  readonly nets: readonly string[] | null;
  readonly notNets: readonly string[];
  /** null = any port. Ports are ORed. */
  readonly ports: readonly PortMatch[] | null;
  readonly notPorts: readonly PortMatch[];
}

export interface PolicyRule {
  readonly action: RuleAction;
  readonly ipVersion: 4 | 6 | null;
  readonly protocol: number | null;
  readonly notProtocol: number | null;
  readonly icmp: IcmpMatch | null;
  readonly notIcmp: IcmpMatch | null;
  readonly source: EntityMatch;
  readonly destination: EntityMatch;
}

export interface PolicyModel {
  /** `knp/<ns>/<name>`, `np/<ns>/<name>` or `gnp/<name>`: unique across kinds. */
  readonly id: string;
  readonly kind: PolicyKind;
  readonly namespace: string | null;
  readonly name: string;
  readonly stage: PolicyStage;
  /** Lower goes first; null goes last (Calico: "infinite"). Ties break by id. */
  readonly order: number | null;
  /** Endpoints the policy applies to (effective labels; namespace restriction included). */
  readonly selector: SelectorAst;
  readonly types: readonly Direction[];
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
}

export const ANY_ENTITY: EntityMatch = { selector: null, notSelector: null, nets: null, notNets: [], ports: null, notPorts: [] };

export function policyId(kind: PolicyKind, namespace: string | null, name: string): string {
  const prefix = kind === 'KubernetesNetworkPolicy' ? 'knp' : kind === 'NetworkPolicy' ? 'np' : 'gnp';
  return namespace === null ? `${prefix}/${name}` : `${prefix}/${namespace}/${name}`;
}

/** Sorting of policies inside a stage: by order (null last), then id. */
export function comparePolicies(a: PolicyModel, b: PolicyModel): number {
  const oa = a.order ?? Number.POSITIVE_INFINITY;
  const ob = b.order ?? Number.POSITIVE_INFINITY;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// ---- selector rewriting shared by both converters ----

export const ALL: SelectorAst = { op: 'all' };

export function and(...operands: SelectorAst[]): SelectorAst {
  const kept = operands.filter((o) => o.op !== 'all');
  if (kept.length === 0) return ALL;
  if (kept.length === 1) return kept[0]!;
  return { op: 'and', operands: kept };
}

export function inNamespace(namespace: string): SelectorAst {
  return { op: 'eq', key: LABEL_NAMESPACE, value: namespace };
}

/** Any workload endpoint (network sets and host endpoints have no namespace). */
export const ANY_WORKLOAD: SelectorAst = { op: 'has', key: LABEL_NAMESPACE };

/**
 * A selector over namespace labels → the same selector over endpoints'
 * `pcns.` labels, restricted to workload endpoints. `global()` selects the
 * non-namespaced entities (network sets, host endpoints), as in Calico.
 */
export function namespaceSelectorOnEndpoints(nsSelector: SelectorAst): SelectorAst {
  if (nsSelector.op === 'global') return { op: 'not', operand: ANY_WORKLOAD };
  return and(ANY_WORKLOAD, prefixSelectorKeys(nsSelector, NAMESPACE_LABEL_PREFIX));
}

export function serviceAccountSelectorOnEndpoints(names: readonly string[] | null, saSelector: SelectorAst | null): SelectorAst {
  const parts: SelectorAst[] = [{ op: 'has', key: LABEL_SERVICE_ACCOUNT }];
  if (names !== null && names.length > 0) parts.push({ op: 'in', key: LABEL_SERVICE_ACCOUNT, values: [...names].sort() });
  if (saSelector !== null) parts.push(prefixSelectorKeys(saSelector, SERVICE_ACCOUNT_LABEL_PREFIX));
  return and(...parts);
}

export function prefixSelectorKeys(ast: SelectorAst, prefix: string): SelectorAst {
  switch (ast.op) {
    case 'all':
    case 'global':
      return ast;
    case 'not':
      return { op: 'not', operand: prefixSelectorKeys(ast.operand, prefix) };
    case 'and':
    case 'or':
      return { op: ast.op, operands: ast.operands.map((o) => prefixSelectorKeys(o, prefix)) };
    default:
      return { ...ast, key: prefix + ast.key };
  }
}
