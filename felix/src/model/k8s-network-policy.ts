import { formatCidr, parseCidr } from '../../../lib/cidr.js';
import { hasErrorCode } from '../../../lib/errors.js';
import type { SelectorAst } from '../../../lib/selector/ast.js';
import { labelSelectorToAst, type LabelSelector } from '../../../lib/selector/label-selector.js';
import type { ConvertResult } from './endpoints.js';
import {
  ANY_ENTITY,
  and,
  inNamespace,
  namespaceSelectorOnEndpoints,
  policyId,
  protocolNumber,
  type Direction,
  type EntityMatch,
  type PolicyModel,
  type PolicyRule,
  type PortMatch,
} from './policies.js';

/** networking.k8s.io/v1 NetworkPolicy, the fields we read. */
export interface K8sNetworkPolicy {
  metadata: { name?: string; namespace?: string };
  spec?: {
    podSelector?: LabelSelector | null;
    policyTypes?: readonly string[] | null;
    ingress?: readonly K8sPolicyRule[] | null;
    egress?: readonly K8sPolicyRule[] | null;
  };
}
export interface K8sPolicyRule {
  from?: readonly K8sPeer[] | null;
  to?: readonly K8sPeer[] | null;
  ports?: readonly K8sPolicyPort[] | null;
}
export interface K8sPeer {
  podSelector?: LabelSelector | null;
  namespaceSelector?: LabelSelector | null;
  ipBlock?: { cidr: string; except?: readonly string[] | null } | null;
}
export interface K8sPolicyPort {
  protocol?: string | null;
  port?: number | string | null;
  endPort?: number | null;
}

/**
 * Kubernetes NetworkPolicy → model, with upstream semantics:
 * - policyTypes absent or empty: Ingress, plus Egress when `egress` has rules
 *   (what the API server defaults);
 * - a missing or empty `from`/`to` matches every peer, a missing or empty
 *   `ports` every port; an empty `ingress`/`egress` list allows nothing;
 * - peers are ORed, and so are ports; a peer's podSelector alone means pods of
 *   the policy's namespace, namespaceSelector alone every pod of the selected
 *   namespaces, both together the selected pods of the selected namespaces;
 *   ipBlock is a CIDR minus its excepts, matched on any address (pods too);
 * - a port without protocol is TCP; a named port resolves on the destination
 *   pod, with the rule's protocol; endPort makes a range.
 * Several policies are a union because each only allows; isolation comes from
 * being selected (calculation).
 */
export function fromK8sNetworkPolicy(np: K8sNetworkPolicy): ConvertResult<PolicyModel> {
  const namespace = np.metadata.namespace;
  const name = np.metadata.name;
  if (!namespace || !name) return { ok: false, error: 'metadata.name and metadata.namespace are required' };
  const spec = np.spec ?? {};
  try {
    const selector = and(inNamespace(namespace), labelSelectorToAst(spec.podSelector ?? {}));
    const types: Direction[] = [];
    if (spec.policyTypes && spec.policyTypes.length > 0) {
      for (const [i, t] of spec.policyTypes.entries()) {
        if (t === 'Ingress') types.push('ingress');
        else if (t === 'Egress') types.push('egress');
        else return { ok: false, error: `spec.policyTypes[${i}]: ${JSON.stringify(t)} is not Ingress or Egress` };
      }
    } else {
      types.push('ingress');
      if ((spec.egress ?? []).length > 0) types.push('egress');
    }
    const ingress: PolicyRule[] = [];
    const egress: PolicyRule[] = [];
    if (types.includes('ingress')) {
      for (const [i, rule] of (spec.ingress ?? []).entries()) {
        const r = convertRule(rule.from, rule.ports, 'ingress', namespace, `spec.ingress[${i}]`);
        if (!r.ok) return r;
        ingress.push(...r.value);
      }
    }
    if (types.includes('egress')) {
      for (const [i, rule] of (spec.egress ?? []).entries()) {
        const r = convertRule(rule.to, rule.ports, 'egress', namespace, `spec.egress[${i}]`);
        if (!r.ok) return r;
        egress.push(...r.value);
      }
    }
    return {
      ok: true,
      value: {
        id: policyId('KubernetesNetworkPolicy', namespace, name),
        kind: 'KubernetesNetworkPolicy',
        namespace,
        name,
        stage: 'kubernetes',
        order: null,
        selector,
        types: [...new Set(types)].sort(),
        ingress,
        egress,
      },
    };
  } catch (err) {
    // labelSelectorToAst throws ERR_VALIDATION for an unknown operator: an invalid policy is absent.
    if (hasErrorCode(err, 'ERR_VALIDATION')) return { ok: false, error: err.message };
    throw err;
  }
}

interface PortGroup {
  protocol: number;
  /** null: every port of the protocol. */
  ports: PortMatch[] | null;
}

function convertRule(
  peers: readonly K8sPeer[] | null | undefined,
  ports: readonly K8sPolicyPort[] | null | undefined,
  direction: Direction,
  namespace: string,
  path: string,
): ConvertResult<PolicyRule[]> {
  const peerEntities: EntityMatch[] = [];
  for (const [i, peer] of (peers ?? []).entries()) {
    const e = convertPeer(peer, namespace, `${path}.${direction === 'ingress' ? 'from' : 'to'}[${i}]`);
    if (!e.ok) return e;
    peerEntities.push(e.value);
  }
  if (peerEntities.length === 0) peerEntities.push(ANY_ENTITY);

  // Group ports by protocol: one rule per protocol, ports ORed within it.
  const groups = new Map<number, PortGroup>();
  for (const [i, p] of (ports ?? []).entries()) {
    const protoText = p.protocol ?? 'TCP';
    const protocol = protocolNumber(protoText);
    if (protocol === null || ![6, 17, 132].includes(protocol)) {
      return { ok: false, error: `${path}.ports[${i}].protocol: ${JSON.stringify(protoText)} is not TCP, UDP or SCTP` };
    }
    let group = groups.get(protocol);
    if (!group) {
      group = { protocol, ports: [] };
      groups.set(protocol, group);
    }
    const match = convertPort(p, `${path}.ports[${i}]`);
    if (!match.ok) return match;
    if (match.value === null) group.ports = null;
    else if (group.ports !== null) group.ports.push(match.value);
  }
  const portGroups: (PortGroup | null)[] = groups.size === 0 ? [null] : [...groups.values()].sort((a, b) => a.protocol - b.protocol);

  const rules: PolicyRule[] = [];
  for (const peer of peerEntities) {
    for (const group of portGroups) {
      const portEntity: EntityMatch = { ...ANY_ENTITY, ports: group?.ports ?? null };
      rules.push({
        action: 'Allow',
        ipVersion: null,
        protocol: group?.protocol ?? null,
        notProtocol: null,
        icmp: null,
        notIcmp: null,
        // Ingress: the peer is the source, ports are the pod's (destination).
        // Egress: the peer is the destination and owns the ports.
        source: direction === 'ingress' ? peer : ANY_ENTITY,
        destination: direction === 'ingress' ? portEntity : { ...peer, ports: portEntity.ports },
      });
    }
  }
  return { ok: true, value: rules };
}

function convertPeer(peer: K8sPeer, namespace: string, path: string): ConvertResult<EntityMatch> {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) {
      return { ok: false, error: `${path}: ipBlock cannot be combined with podSelector or namespaceSelector` };
    }
    const cidr = parseCidr(peer.ipBlock.cidr);
    if (!cidr) return { ok: false, error: `${path}.ipBlock.cidr: ${JSON.stringify(peer.ipBlock.cidr)} is not a CIDR` };
    const except: string[] = [];
    for (const [i, text] of (peer.ipBlock.except ?? []).entries()) {
      const e = parseCidr(text);
      if (!e || e.family !== cidr.family) {
        return { ok: false, error: `${path}.ipBlock.except[${i}]: ${JSON.stringify(text)} is not a CIDR of the same family as cidr` };
      }
      except.push(formatCidr(e));
    }
    return { ok: true, value: { ...ANY_ENTITY, nets: [formatCidr(cidr)], notNets: except } };
  }
  let selector: SelectorAst;
  if (peer.namespaceSelector) {
    selector = and(namespaceSelectorOnEndpoints(labelSelectorToAst(peer.namespaceSelector)), labelSelectorToAst(peer.podSelector ?? {}));
  } else if (peer.podSelector) {
    selector = and(inNamespace(namespace), labelSelectorToAst(peer.podSelector));
  } else {
    return { ok: false, error: `${path}: a peer needs podSelector, namespaceSelector or ipBlock` };
  }
  return { ok: true, value: { ...ANY_ENTITY, selector } };
}

function convertPort(p: K8sPolicyPort, path: string): ConvertResult<PortMatch | null> {
  if (p.port === undefined || p.port === null) {
    if (p.endPort !== undefined && p.endPort !== null) return { ok: false, error: `${path}.endPort: needs port` };
    return { ok: true, value: null };
  }
  if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
    if (p.endPort !== undefined && p.endPort !== null) return { ok: false, error: `${path}.endPort: cannot be used with a named port` };
    return { ok: true, value: { kind: 'named', name: p.port } };
  }
  const first = Number(p.port);
  const last = p.endPort ?? first;
  if (!isPort(first)) return { ok: false, error: `${path}.port: ${first} is outside 1-65535` };
  if (!isPort(last) || last < first) return { ok: false, error: `${path}.endPort: ${last} must be between port (${first}) and 65535` };
  return { ok: true, value: { kind: 'range', first, last } };
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
