import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatCidr, maxPrefixLength, parseIp, prefixMask } from '../../../lib/cidr.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../model/config.js';
import type { NamedPort, WorkloadEndpointModel } from '../model/endpoints.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from '../model/k8s-network-policy.js';
import { fromK8sNamespace } from '../model/namespaces.js';
import type { PolicyModel } from '../model/policies.js';
import type { PolicySnapshot } from '../calc/snapshot.js';

/**
 * The shared NetworkPolicy conformance cases (../shared/netpol-cases), read
 * and turned into snapshots step by step, for the pure evaluator test, the
 * `nft -c` test and (later) the real-connection harness. The file is
 * described by its own `format`, `placeholders` and `notes` sections.
 */
export const NETPOL_CASES_PATH =
  process.env['TORTIE_NETPOL_CASES'] ?? fileURLToPath(new URL('../../../../shared/netpol-cases/cases.json', import.meta.url));

export type PairList = readonly (readonly [string, string])[];
export interface NetpolProbe {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  expect: { default: boolean; deny?: PairList; allow?: PairList };
}
export interface NetpolStep {
  description?: string;
  policies?: readonly K8sNetworkPolicy[];
  deletePolicies?: readonly { namespace: string; name: string }[];
  podLabels?: Readonly<Record<string, Record<string, string>>>;
  namespaceLabels?: Readonly<Record<string, Record<string, string>>>;
  probes: readonly NetpolProbe[];
}
export interface NetpolCase {
  id: string;
  name: string;
  features: readonly string[];
  policies?: readonly K8sNetworkPolicy[];
  probes?: readonly NetpolProbe[];
  steps?: readonly NetpolStep[];
}
export interface NetpolCaseFile {
  model: {
    namespaces: readonly string[];
    pods: readonly string[];
    podLabels: Readonly<Record<string, Record<string, string>>>;
    namespaceLabels: Readonly<Record<string, Record<string, string>>>;
    containerPorts: readonly { name: string; containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
  };
  cases: readonly NetpolCase[];
}

export function loadNetpolCases(path = NETPOL_CASES_PATH): NetpolCaseFile {
  return JSON.parse(readFileSync(path, 'utf8')) as NetpolCaseFile;
}

export const CONFORMANCE_NODE = 'node1';

/** Synthetic pod addresses 10.0.<ns>.<pod> (1-based): all nine lie in one /4, as the placeholders assume. */
export function podAddress(file: NetpolCaseFile, pod: string): string {
  const [ns, name] = pod.split('/') as [string, string];
  return `10.0.${file.model.namespaces.indexOf(ns) + 1}.${file.model.pods.indexOf(name) + 1}`;
}

export function podInterface(pod: string): string {
  return `tor${pod.replace('/', '')}`;
}

export function allPods(file: NetpolCaseFile): string[] {
  return file.model.namespaces.flatMap((ns) => file.model.pods.map((p) => `${ns}/${p}`));
}

/** Replaces `{ipBlockOfPod, prefix, prefixV6}` placeholders with the masked CIDR of that pod. */
export function resolvePlaceholders<T>(value: T, address: (pod: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o['ipBlockOfPod'] === 'string') {
        const ip = parseIp(address(o['ipBlockOfPod']));
        if (!ip) throw new Error(`no address for ${String(o['ipBlockOfPod'])}`);
        const prefixLength = Number(ip.family === 4 ? o['prefix'] : o['prefixV6']);
        if (prefixLength > maxPrefixLength(ip.family)) throw new Error('prefix too long');
        return formatCidr({ family: ip.family, network: ip.value & prefixMask(ip.family, prefixLength), prefixLength });
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

export function stepsOf(c: NetpolCase): readonly NetpolStep[] {
  return c.steps ?? [{ policies: c.policies ?? [], probes: c.probes ?? [] }];
}

/** Where the pods are: synthetic by default; the real-connection harness passes what the CNI plugin gave. */
export interface CaseWiring {
  readonly address: (pod: string) => string;
  readonly interfaceName: (pod: string) => string;
  readonly node: string;
}

/** The cluster state after each step of a case (state carries over, as the notes say). */
export function* caseSnapshots(
  file: NetpolCaseFile,
  c: NetpolCase,
  wiring: CaseWiring = { address: (pod) => podAddress(file, pod), interfaceName: podInterface, node: CONFORMANCE_NODE },
): Generator<{ step: NetpolStep; index: number; snapshot: PolicySnapshot; rawPolicies: K8sNetworkPolicy[] }> {
  const podLabels = new Map(allPods(file).map((p) => [p, { ...file.model.podLabels[p.split('/')[1]!] }]));
  const nsLabels = new Map(file.model.namespaces.map((n) => [n, { ...file.model.namespaceLabels[n] }]));
  const policies = new Map<string, K8sNetworkPolicy>();
  const ports: NamedPort[] = file.model.containerPorts.map((p) => ({ name: p.name, protocol: p.protocol, port: p.containerPort }));
  const address = wiring.address;
  for (const [index, step] of stepsOf(c).entries()) {
    for (const d of step.deletePolicies ?? []) policies.delete(`${d.namespace}/${d.name}`);
    for (const p of step.policies ?? []) policies.set(`${p.metadata.namespace}/${p.metadata.name}`, resolvePlaceholders(p, address));
    for (const [pod, labels] of Object.entries(step.podLabels ?? {})) podLabels.set(pod, { ...labels });
    for (const [ns, labels] of Object.entries(step.namespaceLabels ?? {})) nsLabels.set(ns, { ...labels });
    const models: PolicyModel[] = [];
    for (const raw of policies.values()) {
      const r = fromK8sNetworkPolicy(raw);
      if (!r.ok) throw new Error(`case ${c.id}: policy ${raw.metadata.namespace}/${raw.metadata.name}: ${r.error}`);
      models.push(r.value);
    }
    const endpoints: WorkloadEndpointModel[] = allPods(file).map((pod) => {
      const [namespace, name] = pod.split('/') as [string, string];
      return {
        namespace,
        name,
        node: wiring.node,
        interfaceName: wiring.interfaceName(pod),
        ipv4: [address(pod)],
        ipv6: [],
        labels: podLabels.get(pod) ?? {},
        serviceAccount: 'default',
        ports,
      };
    });
    const snapshot: PolicySnapshot = {
      nodeName: wiring.node,
      endpoints,
      hostEndpoints: [],
      namespaces: [...nsLabels.entries()].map(([name, labels]) => fromK8sNamespace({ metadata: { name, labels } })!),
      serviceAccounts: [],
      policies: models,
      networkSets: [],
      config: DEFAULT_FELIX_POLICY_CONFIG,
    };
    yield { step, index, snapshot, rawPolicies: [...policies.values()] };
  }
}

/** Expected verdict of a pair in a probe; null for self pairs, which are never judged. */
export function expectedAllowed(probe: NetpolProbe, from: string, to: string): boolean | null {
  if (from === to) return null;
  const listed = (list: PairList | undefined) => (list ?? []).some(([f, t]) => f === from && t === to);
  if (probe.expect.default) return !listed(probe.expect.deny);
  return listed(probe.expect.allow);
}
