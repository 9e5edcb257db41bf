import fc from 'fast-check';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../model/config.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy, type K8sPeer, type K8sPolicyPort, type K8sPolicyRule } from '../model/k8s-network-policy.js';
import { fromK8sNamespace } from '../model/namespaces.js';
import { pod } from './scenarios.test-helpers.js';
import type { PolicySnapshot } from './snapshot.js';

/**
 * Random Kubernetes NetworkPolicies over a small world (two namespaces, five
 * pods of which three are local, addresses crowded into 10.0.0.0/28 so that
 * ipBlocks, excepts and pods overlap often), for the property tests of the
 * Kubernetes stage's lookups and for `nft` runs of the same rulesets.
 */
export const WORLD_PODS = [
  pod('a', 'p1', '10.0.0.1', { labels: { app: 'web' }, ipv6: ['fd00::1'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 53 }] }),
  pod('a', 'p2', '10.0.0.2', { labels: { app: 'db' }, ports: [{ name: 'http', protocol: 'TCP', port: 8081 }, { name: 'sig', protocol: 'SCTP', port: 9000 }] }),
  pod('b', 'p3', '10.0.0.5', { labels: { app: 'web' }, ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }] }),
  pod('b', 'p4', '10.0.0.9', { labels: { app: 'tool' }, node: 'node2', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  pod('a', 'p5', '10.0.0.12', { labels: { app: 'db' }, node: 'node2', ipv6: ['fd00::c'], ports: [{ name: 'sig', protocol: 'SCTP', port: 9001 }] }),
] as const;

const NAMESPACES = [fromK8sNamespace({ metadata: { name: 'a', labels: { team: 'x' } } })!, fromK8sNamespace({ metadata: { name: 'b', labels: { team: 'y' } } })!];

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const labelSelectorArb = fc.constantFrom({}, { matchLabels: { app: 'web' } }, { matchLabels: { app: 'db' } }, { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'tool'] }] });
const cidrArb = fc.constantFrom('10.0.0.0/28', '10.0.0.0/30', '10.0.0.4/30', '10.0.0.8/29', '10.0.0.1/32', '10.0.0.0/8', '0.0.0.0/0', 'fd00::/120', '::/0');

const peerArb: fc.Arbitrary<K8sPeer> = fc.oneof(
  fc.record({ podSelector: labelSelectorArb }),
  fc.record({ namespaceSelector: fc.constantFrom({}, { matchLabels: { team: 'y' } }) }),
  fc.record({ podSelector: labelSelectorArb, namespaceSelector: fc.constantFrom({}, { matchLabels: { team: 'x' } }) }),
  cidrArb.chain((cidr) => {
    const within = ['10.0.0.0/30', '10.0.0.2/31', '10.0.0.5/32', '10.0.0.8/30', '10.0.0.12/32'].filter((e) => cidr.startsWith('10.') || cidr === '0.0.0.0/0');
    const v6 = ['fd00::/127', 'fd00::c/128'];
    const pool = cidr.includes(':') ? v6 : within;
    return fc.record({ ipBlock: fc.record({ cidr: fc.constant(cidr), except: maybe(fc.subarray(pool)) }, { requiredKeys: ['cidr'] }) });
  }),
);

const portArb: fc.Arbitrary<K8sPolicyPort> = fc.record(
  {
    protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP')),
    port: maybe(fc.constantFrom<number | string>(53, 80, 8080, 8081, 9000, 'http', 'dns', 'sig', 'nope')),
  },
  { requiredKeys: [] },
).chain((p) =>
  typeof p.port === 'number' ? fc.record({ protocol: fc.constant(p.protocol), port: fc.constant(p.port), endPort: maybe(fc.constantFrom(p.port, p.port + 1, 8090, 9001)) }) : fc.constant(p),
);

const ruleArb = (peersKey: 'from' | 'to'): fc.Arbitrary<K8sPolicyRule> =>
  fc.record({ [peersKey]: maybe(fc.array(peerArb, { maxLength: 3 })), ports: maybe(fc.array(portArb, { maxLength: 3 })) }, { requiredKeys: [] });

export const k8sPolicyArb = (index: number): fc.Arbitrary<K8sNetworkPolicy> =>
  fc.record({
    namespace: fc.constantFrom('a', 'b'),
    podSelector: labelSelectorArb,
    policyTypes: maybe(fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress'])),
    ingress: maybe(fc.array(ruleArb('from'), { maxLength: 3 })),
    egress: maybe(fc.array(ruleArb('to'), { maxLength: 3 })),
  }).map((r) => {
    const spec: NonNullable<K8sNetworkPolicy['spec']> = { podSelector: r.podSelector };
    if (r.policyTypes !== undefined) spec.policyTypes = r.policyTypes;
    if (r.ingress !== undefined) spec.ingress = r.ingress;
    if (r.egress !== undefined) spec.egress = r.egress;
    return { metadata: { name: `p${index}`, namespace: r.namespace }, spec };
  });

/** Valid policies only: endPort below port and the like are refused by the converter, so they are left out. */
export const k8sSnapshotArb: fc.Arbitrary<PolicySnapshot> = fc
  .tuple(...Array.from({ length: 4 }, (_, i) => k8sPolicyArb(i)))
  .chain((all) => fc.subarray(all, { minLength: 1 }))
  .map((policies) => ({
    nodeName: 'node1',
    endpoints: [...WORLD_PODS],
    hostEndpoints: [],
    namespaces: NAMESPACES,
    serviceAccounts: [],
    networkSets: [],
    config: DEFAULT_FELIX_POLICY_CONFIG,
    // An invalid policy is absent (the converter's contract); the arbitrary may make some.
    policies: policies.flatMap((p) => {
      const r = fromK8sNetworkPolicy(p);
      return r.ok ? [r.value] : [];
    }),
  }));
