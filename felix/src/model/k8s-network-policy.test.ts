import { describe, expect, it } from 'vitest';
import { formatSelector } from '../../../lib/selector/format.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from './k8s-network-policy.js';
import type { EntityMatch, PolicyModel } from './policies.js';

const np = (spec: K8sNetworkPolicy['spec']): K8sNetworkPolicy => ({ metadata: { name: 'p', namespace: 'x' }, spec });
function convert(spec: K8sNetworkPolicy['spec']): PolicyModel {
  const r = fromK8sNetworkPolicy(np(spec));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const sel = (e: EntityMatch) => (e.selector === null ? null : formatSelector(e.selector));

describe('fromK8sNetworkPolicy', () => {
  it.each([
    ['policyTypes absent, no rules', {}, ['ingress']],
    ['policyTypes absent, ingress rules', { ingress: [{}] }, ['ingress']],
    ['policyTypes absent, egress rules', { egress: [{}] }, ['egress', 'ingress']],
    ['policyTypes absent, empty egress list', { egress: [] }, ['ingress']],
    ['policyTypes Egress only', { policyTypes: ['Egress'], ingress: [{}] }, ['egress']],
    ['policyTypes both', { policyTypes: ['Ingress', 'Egress'] }, ['egress', 'ingress']],
  ] as const)('infers types: %s', (_name, spec, types) => {
    expect(convert(spec as K8sNetworkPolicy['spec']).types).toEqual(types);
  });

  it('selects pods of its own namespace', () => {
    expect(formatSelector(convert({ podSelector: { matchLabels: { pod: 'a' } } }).selector)).toBe('projectcalico.org/namespace == "x" && pod == "a"');
    expect(formatSelector(convert({ podSelector: {} }).selector)).toBe('projectcalico.org/namespace == "x"');
  });

  it('ignores rules of a direction not in policyTypes', () => {
    const p = convert({ policyTypes: ['Ingress'], egress: [{}] });
    expect(p.egress).toEqual([]);
  });

  it.each([
    ['missing ingress: allows nothing', { policyTypes: ['Ingress'] }, 0],
    ['empty ingress list: allows nothing', { ingress: [] }, 0],
    ['a rule {}: allows everything', { ingress: [{}] }, 1],
    ['a rule with from [] and ports []: allows everything', { ingress: [{ from: [], ports: [] }] }, 1],
  ] as const)('%s', (_name, spec, count) => {
    const p = convert(spec as K8sNetworkPolicy['spec']);
    expect(p.ingress).toHaveLength(count);
    for (const r of p.ingress) {
      expect(r.protocol).toBeNull();
      expect(r.source.selector).toBeNull();
      expect(r.source.nets).toBeNull();
      expect(r.destination.ports).toBeNull();
    }
  });

  it.each([
    ['podSelector alone: same namespace', { podSelector: { matchLabels: { pod: 'b' } } }, 'projectcalico.org/namespace == "x" && pod == "b"'],
    ['namespaceSelector alone: all pods there', { namespaceSelector: { matchLabels: { ns: 'y' } } }, 'has(projectcalico.org/namespace) && pcns.ns == "y"'],
    ['namespaceSelector {}: every pod', { namespaceSelector: {} }, 'has(projectcalico.org/namespace)'],
    [
      'both: AND',
      { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] } },
      'has(projectcalico.org/namespace) && pcns.ns == "y" && pod not in {"a"}',
    ],
  ] as const)('peer %s', (_name, peer, expected) => {
    const p = convert({ ingress: [{ from: [peer] }] });
    expect(p.ingress.map((r) => sel(r.source))).toEqual([expected]);
  });

  it('several peers are several rules (OR)', () => {
    const p = convert({ ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: {} }] }] });
    expect(p.ingress).toHaveLength(2);
  });

  it('ipBlock becomes nets and except notNets, canonical', () => {
    const p = convert({ egress: [{ to: [{ ipBlock: { cidr: '10.1.2.3/16', except: ['10.1.2.0/24'] } }] }] });
    expect(p.egress[0]!.destination.nets).toEqual(['10.1.0.0/16']);
    expect(p.egress[0]!.destination.notNets).toEqual(['10.1.2.0/24']);
    expect(p.egress[0]!.destination.selector).toBeNull();
  });

  it.each([
    ['no protocol is TCP', [{ port: 80 }], [[6, [{ kind: 'range', first: 80, last: 80 }]]]],
    ['endPort makes a range', [{ protocol: 'UDP', port: 53, endPort: 80 }], [[17, [{ kind: 'range', first: 53, last: 80 }]]]],
    ['named port', [{ port: 'serve-80-tcp' }], [[6, [{ kind: 'named', name: 'serve-80-tcp' }]]]],
    ['protocol without port: every port', [{ protocol: 'SCTP' }], [[132, null]]],
    [
      'one rule per protocol, ports ORed inside',
      [{ port: 80 }, { protocol: 'UDP', port: 53 }, { port: 81 }],
      [
        [6, [{ kind: 'range', first: 80, last: 80 }, { kind: 'range', first: 81, last: 81 }]],
        [17, [{ kind: 'range', first: 53, last: 53 }]],
      ],
    ],
  ] as const)('ports: %s', (_name, ports, expected) => {
    const p = convert({ ingress: [{ ports: ports as never }] });
    expect(p.ingress.map((r) => [r.protocol, r.destination.ports])).toEqual(expected);
  });

  it('egress ports belong to the destination peer', () => {
    const p = convert({ egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'serve-81-udp', protocol: 'UDP' }] }] });
    expect(p.egress[0]!.destination.ports).toEqual([{ kind: 'named', name: 'serve-81-udp' }]);
    expect(sel(p.egress[0]!.destination)).toBe('projectcalico.org/namespace == "x"');
  });

  it.each([
    ['a peer with ipBlock and podSelector', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, /ipBlock cannot be combined/],
    ['a bad CIDR', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }, /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr/],
    ['endPort below port', { ingress: [{ ports: [{ port: 80, endPort: 79 }] }] }, /endPort/],
    ['endPort with a named port', { ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, /named port/],
    ['protocol ICMP', { ingress: [{ ports: [{ protocol: 'ICMP' }] }] }, /not TCP, UDP or SCTP/],
    ['an unknown policyType', { policyTypes: ['Sideways'] }, /policyTypes\[0\]/],
    ['an unknown selector operator', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }, /operator/],
  ] as const)('refuses %s, naming the field', (_name, spec, message) => {
    const r = fromK8sNetworkPolicy(np(spec as never));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
