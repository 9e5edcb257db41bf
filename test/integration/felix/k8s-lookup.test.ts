import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import type { DesiredPolicyState } from '../../../felix/src/calc/desired.js';
import { evaluateConnection, type Probe } from '../../../felix/src/calc/evaluate.js';
import { k8s, pod } from '../../../felix/src/calc/scenarios.test-helpers.js';
import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import { NftTable } from '../../../felix/src/dataplane/nft-table.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../../../felix/src/model/config.js';
import type { K8sNetworkPolicy } from '../../../felix/src/model/k8s-network-policy.js';
import { fromK8sNamespace } from '../../../felix/src/model/namespaces.js';
import { renderRuleset } from '../../../felix/src/render/ruleset.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import { createPodNetwork, mapLimit, type PodNetwork } from '../../harness/pods.js';
import { kernelAccessProblem } from '../../harness/netns.js';

// The Kubernetes stage is one set lookup per endpoint and direction
// (felix/src/calc/kubernetes-stage.ts). These steps hold the kernel's lookups
// to evaluateConnection, which walks the policies' rules one by one (what the
// chains did before), on real packets: TCP, UDP, SCTP INIT and ICMP echo
// between four pods, for ipBlock with except, named ports on ingress and
// egress, port..endPort, SCTP, and an empty vs a missing `ports`.
const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping Kubernetes lookup tests: ${problem}`);

const PODS = [
  { id: 'x/a', address: '10.0.70.1', labels: { app: 'a' }, ports: [] },
  { id: 'x/b', address: '10.0.70.2', labels: { app: 'b' }, ports: [{ name: 'http', protocol: 'TCP' as const, port: 8080 }, { name: 'sig', protocol: 'SCTP' as const, port: 81 }] },
  { id: 'y/c', address: '10.0.70.5', labels: { app: 'c' }, ports: [{ name: 'http', protocol: 'TCP' as const, port: 8081 }, { name: 'dns', protocol: 'UDP' as const, port: 80 }] },
  { id: 'y/d', address: '10.0.70.6', labels: { app: 'd' }, ports: [] },
];
const PORTS = [80, 81, 8080, 8081];

const policy = (namespace: string, name: string, spec: NonNullable<K8sNetworkPolicy['spec']>) => k8s({ metadata: { name, namespace }, spec });
const only = (app: string) => ({ podSelector: { matchLabels: { app } } });

const STEPS: { name: string; policies: PolicySnapshot['policies'] }[] = [
  {
    name: 'ipBlock with except, several policies on one pod',
    policies: [
      policy('x', 'b-block', { ...only('b'), ingress: [{ from: [{ ipBlock: { cidr: '10.0.70.0/29', except: ['10.0.70.4/30'] } }], ports: [{ port: 80 }] }] }),
      policy('x', 'b-d', { ...only('b'), ingress: [{ from: [{ ipBlock: { cidr: '10.0.70.4/30', except: ['10.0.70.5/32'] } }], ports: [{ port: 81 }] }] }),
      policy('y', 'c-out', { ...only('c'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.70.0/24', except: ['10.0.70.2/32'] } }] }] }),
    ],
  },
  {
    name: 'named ports: on the pod itself for ingress, on each destination for egress',
    policies: [
      policy('x', 'b-http', { ...only('b'), ingress: [{ ports: [{ port: 'http' }, { protocol: 'SCTP', port: 'sig' }] }] }),
      policy('x', 'a-out', { ...only('a'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 'dns' }] }] }),
    ],
  },
  {
    name: 'port..endPort ranges, overlapping between policies',
    policies: [
      policy('y', 'c-range', { ...only('c'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }], ports: [{ port: 80, endPort: 8080 }] }] }),
      policy('y', 'c-range-2', { ...only('c'), ingress: [{ from: [only('d')], ports: [{ port: 8080, endPort: 8081 }, { protocol: 'UDP', port: 81, endPort: 8080 }] }] }),
    ],
  },
  {
    name: 'SCTP only on one port',
    policies: [policy('y', 'd-sctp', { ...only('d'), ingress: [{ ports: [{ protocol: 'SCTP', port: 81 }, { protocol: 'UDP' }] }] })],
  },
  {
    name: 'an empty `ports` and a missing one both allow every port and protocol, ICMP too',
    policies: [
      policy('x', 'a-missing', { ...only('a'), ingress: [{ from: [only('b')] }] }),
      policy('x', 'b-empty', { ...only('b'), ingress: [{ from: [{ namespaceSelector: {} }], ports: [] }] }),
      policy('y', 'd-tcp-only', { ...only('d'), ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP' }] }] }),
    ],
  },
];

type Kind = 'tcp' | 'udp' | 'sctp' | 'icmp';
interface Check {
  from: string;
  to: string;
  kind: Kind;
  port: number;
}
const CHECKS: Check[] = PODS.flatMap((from) =>
  PODS.filter((to) => to !== from).flatMap((to) => [
    ...PORTS.flatMap((port) => (['tcp', 'udp'] as const).map((kind) => ({ from: from.id, to: to.id, kind, port }))),
    ...[80, 81].map((port) => ({ from: from.id, to: to.id, kind: 'sctp' as const, port })),
    { from: from.id, to: to.id, kind: 'icmp' as const, port: 0 },
  ]),
);
const PROTOCOL: Record<Kind, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1 };
const addressOf = (id: string) => PODS.find((p) => p.id === id)!.address;

describe.skipIf(problem !== null)('the Kubernetes stage as set lookups, on real packets', () => {
  let net: PodNetwork;
  let table: NftTable;
  let snapshotOf: (policies: PolicySnapshot['policies']) => PolicySnapshot;

  beforeAll(async () => {
    net = await createPodNetwork(PODS.map((p) => ({ id: p.id, address: p.address })), { ports: PORTS, sctp: true });
    table = new NftTable({ netns: net.node.path, maxConsecutiveFailures: 1 });
    await table.checkNft();
    const endpoints = PODS.map((p) => {
      const [namespace, name] = p.id.split('/') as [string, string];
      return pod(namespace, name, p.address, { labels: p.labels, ports: p.ports, interfaceName: net.pods.get(p.id)!.plan.hostIfName });
    });
    const namespaces = ['x', 'y'].map((name) => fromK8sNamespace({ metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } })!);
    snapshotOf = (policies) => ({ nodeName: 'node1', endpoints, hostEndpoints: [], namespaces, serviceAccounts: [], networkSets: [], config: DEFAULT_FELIX_POLICY_CONFIG, policies });
  }, 60_000);

  afterAll(async () => {
    await net?.cleanup();
  });

  async function reaches(c: Check, ms: number): Promise<boolean> {
    if (c.kind === 'sctp') return net.probeSctp(c.from, c.to, c.port, ms);
    if (c.kind === 'icmp') {
      const seconds = String(Math.max(1, Math.round(ms / 1000)));
      return runCommand('ping', ['-c', '1', '-W', seconds, addressOf(c.to)], { netns: net.pods.get(c.from)!.netns.path }).then(
        () => true,
        () => false,
      );
    }
    return net.probe(c.from, addressOf(c.to), c.kind, c.port, ms);
  }

  it.each(STEPS)('$name: the kernel decides every probe as the policies\' rules do', async ({ policies }) => {
    const desired: DesiredPolicyState = calculatePolicy(snapshotOf(policies));
    // The stage really is lookups: no policy chain is written for a Kubernetes policy.
    expect(desired.workloads.flatMap((w) => [...w.ingress.stages, ...w.egress.stages]).every((s) => s.lookup !== undefined)).toBe(true);
    table.setDesired(renderRuleset(desired));
    await table.apply();

    const expected = CHECKS.map((c) => {
      const probe: Probe = { source: addressOf(c.from), destination: addressOf(c.to), protocol: PROTOCOL[c.kind], sourcePort: 40000 };
      return evaluateConnection(desired, c.kind === 'icmp' ? { ...probe, icmp: { type: 8, code: 0 } } : { ...probe, destinationPort: c.port }).verdict === 'allow';
    });
    // Not vacuous: each step allows some probes and denies others.
    expect(expected.some((e) => e)).toBe(true);
    expect(expected.some((e) => !e)).toBe(true);

    // A short try first, then a long one for the disagreements, so a loaded machine does not turn a slow answer into a deny.
    const first = await mapLimit(CHECKS, 16, (c) => reaches(c, 300));
    const suspects = CHECKS.map((c, i) => ({ c, i })).filter(({ i }) => first[i] !== expected[i]);
    const second = await mapLimit(suspects, 16, ({ c }) => reaches(c, 2_000));
    const wrong = suspects.filter((s, k) => second[k] !== expected[s.i]).map(({ c, i }) => `${c.from} -> ${c.to} ${c.kind}/${c.port}: expected ${expected[i] ? 'allow' : 'deny'}`);
    expect(wrong).toEqual([]);
  }, 120_000);
});
