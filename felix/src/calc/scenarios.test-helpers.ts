import { DEFAULT_FELIX_POLICY_CONFIG, fromFelixConfiguration } from '../model/config.js';
import type { HostEndpointModel, WorkloadEndpointModel } from '../model/endpoints.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from '../model/k8s-network-policy.js';
import { fromK8sNamespace } from '../model/namespaces.js';
import type { PolicyModel } from '../model/policies.js';
import { fromTortiePolicy, type TortiePolicy } from '../model/tortie-policy.js';
import type { PolicySnapshot } from './snapshot.js';

/**
 * Hand-written snapshots shared by the calculation, render and nft-check
 * tests. Each is small enough to read its golden ruleset line by line.
 */
export function k8s(p: K8sNetworkPolicy): PolicyModel {
  const r = fromK8sNetworkPolicy(p);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
export function tortie(p: TortiePolicy): PolicyModel {
  const r = fromTortiePolicy(p);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function pod(namespace: string, name: string, addr: string, extra: Partial<WorkloadEndpointModel> = {}): WorkloadEndpointModel {
  return {
    namespace,
    name,
    node: 'node1',
    interfaceName: `tor${name.replace(/-/g, '')}`.slice(0, 15),
    ipv4: [addr],
    ipv6: [],
    labels: {},
    serviceAccount: 'default',
    ports: [],
    ...extra,
  };
}

const base: PolicySnapshot = {
  nodeName: 'node1',
  endpoints: [],
  hostEndpoints: [],
  namespaces: [],
  serviceAccounts: [],
  policies: [],
  networkSets: [],
  config: DEFAULT_FELIX_POLICY_CONFIG,
};

const namespaces = [fromK8sNamespace({ metadata: { name: 'prod', labels: { team: 'a' } } })!, fromK8sNamespace({ metadata: { name: 'dev', labels: { team: 'b' } } })!];

const web1 = pod('prod', 'web-1', '10.65.0.2', {
  ipv6: ['fd00::2'],
  labels: { app: 'web' },
  serviceAccount: 'web',
  ports: [
    { name: 'http', protocol: 'TCP', port: 8080 },
    { name: 'metrics', protocol: 'TCP', port: 9090 },
  ],
});
const web2 = pod('prod', 'web-2', '10.65.1.2', { node: 'node2', labels: { app: 'web' }, ports: [{ name: 'http', protocol: 'TCP', port: 8081 }] });
const db1 = pod('prod', 'db-1', '10.65.0.3', { labels: { app: 'db' }, ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }] });
const tool1 = pod('dev', 'tool-1', '10.65.0.4', { labels: { app: 'tool' } });
const hostEth0: HostEndpointModel = { name: 'node1-eth0', node: 'node1', interfaceName: 'eth0', expectedIps: ['192.168.0.10'], labels: { role: 'node' }, ports: [] };

const mixedPolicies: PolicyModel[] = [
  tortie({
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'edge' },
    spec: {
      order: 10,
      selector: 'has(projectcalico.org/namespace)',
      ingress: [
        { action: 'Deny', source: { nets: ['198.51.100.0/24', '2001:db8:bad::/48'] } },
        { action: 'Log', protocol: 'TCP', destination: { ports: [22] } },
        { action: 'Pass', source: { selector: 'net == "corp"' } },
        { action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 } },
        { action: 'Allow', protocol: 'ICMPv6', icmp: { type: 128 } },
        { action: 'Deny', protocol: 'ICMP', notICMP: { type: 0, code: 0 } },
        // Pods other than web have no tortie policy after this one: hand them to the Kubernetes stage.
        { action: 'Pass', destination: { selector: 'app != "web"' } },
      ],
    },
  }),
  tortie({
    kind: 'NetworkPolicy',
    metadata: { name: 'web', namespace: 'prod' },
    spec: {
      order: 100,
      selector: 'app == "web"',
      types: ['Ingress', 'Egress'],
      ingress: [
        { action: 'Allow', protocol: 'TCP', source: { serviceAccounts: { names: ['web'] } }, destination: { ports: ['http'] } },
        { action: 'Allow', protocol: 'TCP', source: { namespaceSelector: 'team == "b"' }, destination: { notPorts: [9090, '1000:2000'] } },
      ],
      egress: [
        { action: 'Allow', protocol: 'TCP', destination: { selector: 'app == "db"', ports: ['pg', 5433] } },
        { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
        { action: 'Deny', notProtocol: 'TCP', destination: { notNets: ['10.0.0.0/8'] } },
      ],
    },
  }),
  tortie({
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'host' },
    spec: {
      order: 5,
      selector: 'role == "node"',
      types: ['Ingress', 'Egress'],
      ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [10250] } }],
      egress: [{ action: 'Allow' }],
    },
  }),
  k8s({ metadata: { name: 'default-deny', namespace: 'prod' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }),
  k8s({
    metadata: { name: 'db-from-web', namespace: 'prod' },
    spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] },
  }),
  k8s({
    metadata: { name: 'web-from-corp', namespace: 'prod' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ ipBlock: { cidr: '192.168.100.0/24', except: ['192.168.100.128/25'] } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 8000, endPort: 8100 }] }],
    },
  }),
];

const customFailsafe = fromFelixConfiguration({
  failsafeInboundHostPorts: [
    { protocol: 'tcp', port: 22 },
    { protocol: 'tcp', port: 6443, net: '10.0.0.0/8' },
    { protocol: 'udp', port: 4789 },
  ],
  failsafeOutboundHostPorts: [{ protocol: 'udp', port: 53 }],
});
if (!customFailsafe.ok) throw new Error(customFailsafe.error);

export const SCENARIOS: Readonly<Record<string, PolicySnapshot>> = {
  empty: base,
  'no-policy': { ...base, namespaces, endpoints: [db1, tool1] },
  'k8s-default-deny': {
    ...base,
    namespaces,
    endpoints: [db1, tool1],
    policies: [k8s({ metadata: { name: 'deny', namespace: 'prod' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } })],
  },
  mixed: {
    ...base,
    namespaces,
    serviceAccounts: [{ namespace: 'prod', name: 'web', labels: { tier: 'front' } }],
    endpoints: [web1, web2, db1, tool1],
    hostEndpoints: [hostEth0],
    networkSets: [{ name: 'corp', labels: { net: 'corp' }, nets: ['192.168.100.0/24', '2001:db8:c0::/48'] }],
    policies: mixedPolicies,
  },
  'custom-failsafe': { ...base, hostEndpoints: [hostEth0], config: customFailsafe.value },
  'host-all-interfaces': {
    ...base,
    hostEndpoints: [hostEth0, { name: 'node1-all', node: 'node1', interfaceName: '*', expectedIps: ['192.168.0.10', '10.0.0.10'], labels: { role: 'node', all: 'true' }, ports: [] }],
    policies: [
      tortie({
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'node-ssh' },
        spec: { selector: 'all == "true"', types: ['Ingress', 'Egress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [22, 10250] } }], egress: [{ action: 'Allow' }] },
      }),
    ],
  },
};

const mixed = SCENARIOS['mixed']!;
/** A history of the mixed scenario: policies arrive, labels change, a pod goes away, a namespace is relabelled. */
export const HISTORY: readonly PolicySnapshot[] = [
  { ...mixed, policies: [], endpoints: [], hostEndpoints: [], networkSets: [], serviceAccounts: [], namespaces: [] },
  { ...mixed, policies: mixed.policies.slice(0, 2) },
  mixed,
  { ...mixed, endpoints: mixed.endpoints.map((e) => (e.name === 'tool-1' ? { ...e, labels: { app: 'web' } } : e)) },
  { ...mixed, endpoints: mixed.endpoints.filter((e) => e.name !== 'db-1') },
  { ...mixed, namespaces: mixed.namespaces.map((n) => (n.name === 'dev' ? { ...n, labels: { ...n.labels, team: 'a' } } : n)) },
  { ...mixed, policies: mixed.policies.slice(3), networkSets: [] },
  { ...mixed, config: SCENARIOS['custom-failsafe']!.config },
];
