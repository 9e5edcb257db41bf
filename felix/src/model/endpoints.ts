import { formatIp, parseIp } from '../../../lib/cidr.js';
import type { Labels } from '../../../lib/selector/ast.js';

/**
 * Synthetic labels every workload endpoint carries, with Calico's spelling so
 * that a selector written for Calico (`projectcalico.org/namespace == 'x'`)
 * means the same here. Namespace labels are inherited with the `pcns.` prefix
 * and service-account labels with `pcsa.`, as Calico's profiles do; rule
 * `namespaceSelector`s and `serviceAccounts.selector`s are rewritten onto those
 * prefixed keys (policies.ts), so one label map and one matcher answer every
 * selector.
 */
export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
export const NAMESPACE_LABEL_PREFIX = 'pcns.';
export const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';
/** Value of LABEL_ORCHESTRATOR on pods. */
export const ORCHESTRATOR_K8S = 'k8s';

/** Transport protocols a container port (and so a named port) can have. */
export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface NamedPort {
  readonly name: string;
  readonly protocol: PortProtocol;
  readonly port: number;
}

/** A pod as the policy agent sees it. Addresses are bare canonical IPs (no prefix length). */
export interface WorkloadEndpointModel {
  readonly namespace: string;
  /** Name of the pod (Calico's `workload`). */
  readonly name: string;
  /** Node the pod runs on; only endpoints of our own node get dispatch chains. */
  readonly node: string;
  /** Host-side interface name, the key of the dispatch maps. */
  readonly interfaceName: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /** The pod's own labels (without the synthetic ones). */
  readonly labels: Labels;
  readonly serviceAccount: string | null;
  readonly ports: readonly NamedPort[];
}

/** A host interface (or the whole host with interfaceName `*`) under policy. */
export interface HostEndpointModel {
  readonly name: string;
  readonly node: string;
  readonly interfaceName: string | null;
  readonly expectedIps: readonly string[];
  readonly labels: Labels;
  readonly ports: readonly NamedPort[];
}

export interface ServiceAccountModel {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
}

/** `namespace/name`, the key endpoints are stored and sorted by. */
export function endpointKey(ep: { readonly namespace: string; readonly name: string }): string {
  return `${ep.namespace}/${ep.name}`;
}

/**
 * The label map selectors are matched against: the pod's labels, its
 * namespace's labels under `pcns.`, its service account's under `pcsa.`, and
 * the synthetic namespace / service-account / orchestrator labels.
 */
export function effectiveEndpointLabels(
  ep: WorkloadEndpointModel,
  namespaceLabels: Labels | undefined,
  serviceAccountLabels: Labels | undefined,
): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(namespaceLabels ?? {})) out[NAMESPACE_LABEL_PREFIX + k] = v;
  for (const [k, v] of Object.entries(serviceAccountLabels ?? {})) out[SERVICE_ACCOUNT_LABEL_PREFIX + k] = v;
  for (const [k, v] of Object.entries(ep.labels)) out[k] = v;
  out[LABEL_NAMESPACE] = ep.namespace;
  out[LABEL_ORCHESTRATOR] = ORCHESTRATOR_K8S;
  if (ep.serviceAccount !== null) out[LABEL_SERVICE_ACCOUNT] = ep.serviceAccount;
  return out;
}

/** Calico WorkloadEndpoint spec fields we read (projectcalico.org/v3 names). */
export interface WorkloadEndpointResource {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> | null };
  spec: {
    node?: string;
    pod?: string;
    workload?: string;
    interfaceName?: string;
    ipNetworks?: readonly string[];
    serviceAccountName?: string;
    ports?: readonly { name?: string; protocol?: string; port?: number }[];
  };
}

export type ConvertResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * WorkloadEndpoint resource → model. The pod's labels are the resource's
 * labels minus the synthetic ones (Calico stores them on the WEP too).
 */
export function fromWorkloadEndpoint(wep: WorkloadEndpointResource): ConvertResult<WorkloadEndpointModel> {
  const namespace = wep.metadata.namespace;
  const name = wep.spec.pod ?? wep.spec.workload ?? wep.metadata.name;
  if (!namespace || !name) return { ok: false, error: 'metadata.namespace and spec.pod are required' };
  if (!wep.spec.interfaceName) return { ok: false, error: 'spec.interfaceName is required' };
  if (!wep.spec.node) return { ok: false, error: 'spec.node is required' };
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  for (const [i, net] of (wep.spec.ipNetworks ?? []).entries()) {
    const ip = parseIp(net.split('/')[0] ?? '');
    if (ip === null) return { ok: false, error: `spec.ipNetworks[${i}]: ${JSON.stringify(net)} is not an IP network` };
    (ip.family === 4 ? ipv4 : ipv6).push(formatIp(ip.family, ip.value));
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(wep.metadata.labels ?? {})) {
    if (k === LABEL_NAMESPACE || k === LABEL_SERVICE_ACCOUNT || k === LABEL_ORCHESTRATOR) continue;
    labels[k] = v;
  }
  const ports: NamedPort[] = [];
  for (const [i, p] of (wep.spec.ports ?? []).entries()) {
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    if (!p.name || p.port === undefined || (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')) {
      return { ok: false, error: `spec.ports[${i}]: needs name, port and protocol TCP, UDP or SCTP` };
    }
    ports.push({ name: p.name, protocol, port: p.port });
  }
  return {
    ok: true,
    value: {
      namespace,
      name,
      node: wep.spec.node,
      interfaceName: wep.spec.interfaceName,
      ipv4,
      ipv6,
      labels,
      serviceAccount: wep.spec.serviceAccountName ?? null,
      ports,
    },
  };
}

/** Calico HostEndpoint fields we read. */
export interface HostEndpointResource {
  metadata: { name?: string; labels?: Record<string, string> | null };
  spec: {
    node?: string;
    interfaceName?: string;
    expectedIPs?: readonly string[];
    ports?: readonly { name?: string; protocol?: string | number; port?: number }[];
  };
}

/**
 * HostEndpoint resource → model. An endpoint without interfaceName (found by
 * its expectedIPs) or with `*` still lends its addresses to selectors, but
 * gets no dispatch chain yet (calculation skips it; see DESIGN.md).
 */
export function fromHostEndpoint(hep: HostEndpointResource): ConvertResult<HostEndpointModel> {
  const name = hep.metadata.name;
  if (!name) return { ok: false, error: 'metadata.name is required' };
  if (!hep.spec.node) return { ok: false, error: 'spec.node is required' };
  const ports: NamedPort[] = [];
  for (const [i, p] of (hep.spec.ports ?? []).entries()) {
    const protocol = String(p.protocol ?? 'TCP').toUpperCase();
    if (!p.name || p.port === undefined || (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')) {
      return { ok: false, error: `spec.ports[${i}]: needs name, port and protocol TCP, UDP or SCTP` };
    }
    ports.push({ name: p.name, protocol, port: p.port });
  }
  return {
    ok: true,
    value: {
      name,
      node: hep.spec.node,
      interfaceName: hep.spec.interfaceName || null,
      expectedIps: [...(hep.spec.expectedIPs ?? [])],
      labels: { ...(hep.metadata.labels ?? {}) },
      ports,
    },
  };
}

/** Kubernetes ServiceAccount → model: its labels are what `serviceAccounts.selector` matches (as `pcsa.` keys). */
export function fromK8sServiceAccount(sa: { metadata: { name?: string; namespace?: string; labels?: Record<string, string> | null } }): ServiceAccountModel | null {
  if (!sa.metadata.name || !sa.metadata.namespace) return null;
  return { namespace: sa.metadata.namespace, name: sa.metadata.name, labels: { ...(sa.metadata.labels ?? {}) } };
}
