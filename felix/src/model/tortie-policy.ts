import { formatCidr, parseCidr } from '../../../lib/cidr.js';
import type { SelectorAst } from '../../../lib/selector/ast.js';
import { parseSelector } from '../../../lib/selector/parse.js';
import type { ConvertResult } from './endpoints.js';
import {
  ALL,
  and,
  inNamespace,
  namespaceSelectorOnEndpoints,
  policyId,
  PORT_PROTOCOLS,
  protocolNumber,
  serviceAccountSelectorOnEndpoints,
  type Direction,
  type EntityMatch,
  type IcmpMatch,
  type PolicyModel,
  type PolicyRule,
  type PortMatch,
  type RuleAction,
} from './policies.js';

/** Calico v3 EntityRule (source / destination), the fields we read. */
export interface TortieEntityRule {
  nets?: readonly string[] | null;
  notNets?: readonly string[] | null;
  selector?: string | null;
  notSelector?: string | null;
  namespaceSelector?: string | null;
  ports?: readonly (number | string)[] | null;
  notPorts?: readonly (number | string)[] | null;
  serviceAccounts?: { names?: readonly string[] | null; selector?: string | null } | null;
}
export interface TortieRule {
  action: string;
  ipVersion?: number | null;
  protocol?: string | number | null;
  notProtocol?: string | number | null;
  icmp?: { type?: number | null; code?: number | null } | null;
  notICMP?: { type?: number | null; code?: number | null } | null;
  source?: TortieEntityRule | null;
  destination?: TortieEntityRule | null;
}
/** tortie NetworkPolicy (namespaced) or GlobalNetworkPolicy. */
export interface TortiePolicy {
  kind: 'NetworkPolicy' | 'GlobalNetworkPolicy';
  metadata: { name?: string; namespace?: string };
  spec?: {
    order?: number | null;
    selector?: string | null;
    namespaceSelector?: string | null;
    serviceAccountSelector?: string | null;
    types?: readonly string[] | null;
    ingress?: readonly TortieRule[] | null;
    egress?: readonly TortieRule[] | null;
  };
}

/**
 * tortie (Global)NetworkPolicy → model, with Calico's semantics:
 * - `types` absent: Egress alone when there are only egress rules, both when
 *   there are both, otherwise Ingress;
 * - a NetworkPolicy's `selector` and its rules' selectors are limited to its
 *   own namespace unless the rule gives a `namespaceSelector`; a
 *   GlobalNetworkPolicy's are not limited (they also match network sets and
 *   host endpoints); `namespaceSelector: global()` means non-namespaced ones;
 * - ports need a protocol that has ports (TCP, UDP, SCTP, UDPLite).
 */
export function fromTortiePolicy(p: TortiePolicy): ConvertResult<PolicyModel> {
  const name = p.metadata.name;
  const isGlobal = p.kind === 'GlobalNetworkPolicy';
  const namespace = isGlobal ? null : (p.metadata.namespace ?? null);
  if (!name) return { ok: false, error: 'metadata.name is required' };
  if (!isGlobal && !namespace) return { ok: false, error: 'metadata.namespace is required for a NetworkPolicy' };
  const spec = p.spec ?? {};

  const sel = selectorField(spec.selector, 'spec.selector');
  if (!sel.ok) return sel;
  const parts: SelectorAst[] = [sel.value ?? ALL];
  if (namespace !== null) parts.unshift(inNamespace(namespace));
  if (spec.namespaceSelector) {
    if (!isGlobal) return { ok: false, error: 'spec.namespaceSelector: only a GlobalNetworkPolicy has it' };
    const ns = selectorField(spec.namespaceSelector, 'spec.namespaceSelector');
    if (!ns.ok) return ns;
    parts.push(namespaceSelectorOnEndpoints(ns.value ?? ALL));
  }
  if (spec.serviceAccountSelector) {
    const sa = selectorField(spec.serviceAccountSelector, 'spec.serviceAccountSelector');
    if (!sa.ok) return sa;
    parts.push(serviceAccountSelectorOnEndpoints(null, sa.value));
  }

  const ingressRules = spec.ingress ?? [];
  const egressRules = spec.egress ?? [];
  const types: Direction[] = [];
  if (spec.types && spec.types.length > 0) {
    for (const [i, t] of spec.types.entries()) {
      if (t === 'Ingress') types.push('ingress');
      else if (t === 'Egress') types.push('egress');
      else return { ok: false, error: `spec.types[${i}]: ${JSON.stringify(t)} is not Ingress or Egress` };
    }
  } else {
    if (ingressRules.length > 0 || egressRules.length === 0) types.push('ingress');
    if (egressRules.length > 0) types.push('egress');
  }

  const convert = (rules: readonly TortieRule[], dir: Direction): ConvertResult<PolicyRule[]> => {
    const out: PolicyRule[] = [];
    for (const [i, r] of rules.entries()) {
      const c = convertRule(r, namespace, `spec.${dir}[${i}]`);
      if (!c.ok) return c;
      out.push(c.value);
    }
    return { ok: true, value: out };
  };
  const ingress = types.includes('ingress') ? convert(ingressRules, 'ingress') : { ok: true as const, value: [] };
  if (!ingress.ok) return ingress;
  const egress = types.includes('egress') ? convert(egressRules, 'egress') : { ok: true as const, value: [] };
  if (!egress.ok) return egress;

  if (spec.order !== undefined && spec.order !== null && !Number.isFinite(spec.order)) {
    return { ok: false, error: 'spec.order: must be a finite number' };
  }
  return {
    ok: true,
    value: {
      id: policyId(p.kind, namespace, name),
      kind: p.kind,
      namespace,
      name,
      stage: 'tortie',
      order: spec.order ?? null,
      selector: and(...parts),
      types: [...new Set(types)].sort(),
      ingress: ingress.value,
      egress: egress.value,
    },
  };
}

const ACTIONS: readonly RuleAction[] = ['Allow', 'Deny', 'Pass', 'Log'];

function convertRule(r: TortieRule, namespace: string | null, path: string): ConvertResult<PolicyRule> {
  const action = ACTIONS.find((a) => a === r.action);
  if (!action) return { ok: false, error: `${path}.action: ${JSON.stringify(r.action)} is not Allow, Deny, Pass or Log` };
  let ipVersion: 4 | 6 | null = null;
  if (r.ipVersion !== undefined && r.ipVersion !== null) {
    if (r.ipVersion !== 4 && r.ipVersion !== 6) return { ok: false, error: `${path}.ipVersion: must be 4 or 6` };
    ipVersion = r.ipVersion;
  }
  const protocol = optionalProtocol(r.protocol, `${path}.protocol`);
  if (!protocol.ok) return protocol;
  const notProtocol = optionalProtocol(r.notProtocol, `${path}.notProtocol`);
  if (!notProtocol.ok) return notProtocol;
  const icmp = optionalIcmp(r.icmp, protocol.value, `${path}.icmp`);
  if (!icmp.ok) return icmp;
  const notIcmp = optionalIcmp(r.notICMP, protocol.value, `${path}.notICMP`);
  if (!notIcmp.ok) return notIcmp;
  if (protocol.value === 1 && ipVersion === 6) return { ok: false, error: `${path}: protocol ICMP with ipVersion 6` };
  if (protocol.value === 58 && ipVersion === 4) return { ok: false, error: `${path}: protocol ICMPv6 with ipVersion 4` };
  const source = convertEntity(r.source ?? {}, namespace, protocol.value, `${path}.source`);
  if (!source.ok) return source;
  const destination = convertEntity(r.destination ?? {}, namespace, protocol.value, `${path}.destination`);
  if (!destination.ok) return destination;
  return {
    ok: true,
    value: {
      action,
      ipVersion,
      protocol: protocol.value,
      notProtocol: notProtocol.value,
      icmp: icmp.value,
      notIcmp: notIcmp.value,
      source: source.value,
      destination: destination.value,
    },
  };
}

function optionalProtocol(p: string | number | null | undefined, path: string): ConvertResult<number | null> {
  if (p === undefined || p === null) return { ok: true, value: null };
  const n = protocolNumber(p);
  if (n === null) return { ok: false, error: `${path}: ${JSON.stringify(p)} is not TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 0-255` };
  return { ok: true, value: n };
}

function optionalIcmp(
  m: { type?: number | null; code?: number | null } | null | undefined,
  protocol: number | null,
  path: string,
): ConvertResult<IcmpMatch | null> {
  if (m === undefined || m === null) return { ok: true, value: null };
  if (protocol !== 1 && protocol !== 58) return { ok: false, error: `${path}: needs protocol ICMP or ICMPv6` };
  if (m.type === undefined || m.type === null) {
    if (m.code !== undefined && m.code !== null) return { ok: false, error: `${path}.code: needs type` };
    return { ok: true, value: null };
  }
  if (!Number.isInteger(m.type) || m.type < 0 || m.type > 254) return { ok: false, error: `${path}.type: must be 0-254` };
  if (m.code !== undefined && m.code !== null && (!Number.isInteger(m.code) || m.code < 0 || m.code > 255)) {
    return { ok: false, error: `${path}.code: must be 0-255` };
  }
  return { ok: true, value: { type: m.type, code: m.code ?? null } };
}

function convertEntity(e: TortieEntityRule, namespace: string | null, protocol: number | null, path: string): ConvertResult<EntityMatch> {
  const sel = selectorField(e.selector, `${path}.selector`);
  if (!sel.ok) return sel;
  const notSel = selectorField(e.notSelector, `${path}.notSelector`);
  if (!notSel.ok) return notSel;
  const nsSel = selectorField(e.namespaceSelector, `${path}.namespaceSelector`);
  if (!nsSel.ok) return nsSel;
  let saPart: SelectorAst | null = null;
  if (e.serviceAccounts) {
    const saSel = selectorField(e.serviceAccounts.selector, `${path}.serviceAccounts.selector`);
    if (!saSel.ok) return saSel;
    saPart = serviceAccountSelectorOnEndpoints(e.serviceAccounts.names ?? null, saSel.value);
  }
  let selector: SelectorAst | null = null;
  if (sel.value || notSel.value || nsSel.value || saPart) {
    const scope = nsSel.value ? namespaceSelectorOnEndpoints(nsSel.value) : namespace !== null ? inNamespace(namespace) : ALL;
    selector = and(scope, sel.value ?? ALL, saPart ?? ALL);
  }
  const nets = cidrList(e.nets, `${path}.nets`);
  if (!nets.ok) return nets;
  const notNets = cidrList(e.notNets, `${path}.notNets`);
  if (!notNets.ok) return notNets;
  const ports = portList(e.ports, `${path}.ports`);
  if (!ports.ok) return ports;
  const notPorts = portList(e.notPorts, `${path}.notPorts`);
  if (!notPorts.ok) return notPorts;
  if ((ports.value !== null || notPorts.value !== null) && (protocol === null || !PORT_PROTOCOLS.has(protocol))) {
    return { ok: false, error: `${path}: ports need protocol TCP, UDP, SCTP or UDPLite` };
  }
  return {
    ok: true,
    value: {
      selector,
      notSelector: notSel.value,
      nets: nets.value,
      notNets: notNets.value ?? [],
      ports: ports.value,
      notPorts: notPorts.value ?? [],
    },
  };
}

function selectorField(text: string | null | undefined, path: string): ConvertResult<SelectorAst | null> {
  if (text === undefined || text === null || text.trim() === '') return { ok: true, value: null };
  const r = parseSelector(text);
  if (!r.ok) return { ok: false, error: `${path}: ${r.error.message} at column ${r.error.column}` };
  return { ok: true, value: r.selector };
}

function cidrList(list: readonly string[] | null | undefined, path: string): ConvertResult<string[] | null> {
  if (list === undefined || list === null || list.length === 0) return { ok: true, value: null };
  const out: string[] = [];
  for (const [i, text] of list.entries()) {
    const c = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
    if (!c) return { ok: false, error: `${path}[${i}]: ${JSON.stringify(text)} is not a CIDR` };
    out.push(formatCidr(c));
  }
  return { ok: true, value: out };
}

function portList(list: readonly (number | string)[] | null | undefined, path: string): ConvertResult<PortMatch[] | null> {
  if (list === undefined || list === null || list.length === 0) return { ok: true, value: null };
  const out: PortMatch[] = [];
  for (const [i, p] of list.entries()) {
    const text = String(p);
    const m = /^(\d+)(?::(\d+))?$/.exec(text);
    if (m) {
      const first = Number(m[1]);
      const last = m[2] === undefined ? first : Number(m[2]);
      if (first < 0 || last > 65535 || last < first) return { ok: false, error: `${path}[${i}]: ${JSON.stringify(p)} is not a port or range within 0-65535` };
      out.push({ kind: 'range', first, last });
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text) && text.length <= 15) {
      out.push({ kind: 'named', name: text });
    } else {
      return { ok: false, error: `${path}[${i}]: ${JSON.stringify(p)} is not a port, a range "first:last" or a port name` };
    }
  }
  return { ok: true, value: out };
}
