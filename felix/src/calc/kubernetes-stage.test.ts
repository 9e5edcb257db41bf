import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIp } from '../../../lib/cidr.js';
import type { Direction } from '../model/policies.js';
import { calculatePolicy, PolicyCalculator } from './calculate-policy.js';
import type { DesiredPolicyState, DirectionPlan, EndpointPlan, IpSet } from './desired.js';
import { evaluateConnection, type Probe } from './evaluate.js';
import { k8sPolicyArb, k8sSnapshotArb } from './kubernetes-policies.test-helpers.js';
import { decomposePeerPorts, lookupAllows } from './kubernetes-stage.js';
import { k8s, pod } from './scenarios.test-helpers.js';
import type { PolicySnapshot } from './snapshot.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../model/config.js';
import { fromK8sNamespace } from '../model/namespaces.js';
import type { WorkloadEndpointModel } from '../model/endpoints.js';
import { fromK8sNetworkPolicy } from '../model/k8s-network-policy.js';

/**
 * What the rendered ruleset does with a probe when the Kubernetes stage is
 * its lookups: the evaluator's walk with that one stage replaced by
 * `lookupAllows`. The reference is evaluateConnection, which walks the
 * policies' chains rule by rule.
 */
function verdictByLookups(desired: DesiredPolicyState, probe: Probe): 'allow' | 'deny' {
  const sets = new Map(desired.sets.map((s) => [s.name, s]));
  const find = (address: string) => desired.workloads.find((w) => [...w.ipv4, ...w.ipv6].includes(address));
  const walk = (ep: EndpointPlan, direction: Direction, plan: DirectionPlan): boolean => {
    if (direction === 'egress' && ![...ep.ipv4, ...ep.ipv6].includes(probe.source)) return false;
    for (const stage of plan.stages) {
      if (stage.lookup === undefined) throw new Error(`stage ${stage.stage} of ${ep.id} was not compiled into lookups`);
      return lookupAllows(sets, stage.lookup, direction, probe);
    }
    return plan.fallthrough === 'allow';
  };
  const src = find(probe.source);
  const dst = find(probe.destination);
  if (src && !walk(src, 'egress', src.egress)) return 'deny';
  if (dst && !walk(dst, 'ingress', dst.ingress)) return 'deny';
  return 'allow';
}

/**
 * Every combination of these: the local pods (10.0.0.1, .2, .5, fd00::1) at either end, remote
 * pods, addresses inside and outside the ipBlocks and their excepts, the ports the policies
 * name (and their neighbours, to catch a piece that grew over a gap), ICMP and GRE.
 */
const ENDS_V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.5', '10.0.0.3', '10.0.0.9', '10.0.0.12', '192.0.2.1'];
const ENDS_V6 = ['fd00::1', 'fd00::c', 'fd00::2', '2001:db8::1'];
const PORTS = [53, 80, 81, 5353, 8080, 8081, 8085, 8091, 9000, 9001, 9002];
const PROBES: readonly Probe[] = [ENDS_V4, ENDS_V6].flatMap((ends) =>
  ends.flatMap((source) =>
    ends.flatMap((destination) => [
      ...[6, 17, 132].flatMap((protocol) => PORTS.map((destinationPort): Probe => ({ source, destination, protocol, destinationPort, sourcePort: 40000 }))),
      { source, destination, protocol: ends === ENDS_V4 ? 1 : 58, icmp: { type: 8, code: 0 } },
      { source, destination, protocol: 47 },
    ]),
  ),
);

/** Two elements of one set overlap when every field's ranges intersect. */
function overlapping(set: IpSet): string[] {
  const out: string[] = [];
  if (set.kind === 'peers') {
    for (let k = 1; k < set.elements.length; k++) {
      const prev = parseIp(set.elements[k - 1]!.last)!.value;
      const next = parseIp(set.elements[k]!.first)!.value;
      if (next <= prev + 1n) out.push(`${set.name}: ${JSON.stringify(set.elements[k - 1])} touches ${JSON.stringify(set.elements[k])}`);
    }
  }
  if (set.kind === 'peer-ports') {
    const els = set.elements.map((e) => ({ ...e, a: parseIp(e.first)!.value, b: parseIp(e.last)!.value }));
    for (let x = 0; x < els.length; x++) {
      for (let y = x + 1; y < els.length; y++) {
        const p = els[x]!;
        const q = els[y]!;
        if (p.protocol === q.protocol && p.firstPort <= q.lastPort && q.firstPort <= p.lastPort && p.a <= q.b && q.a <= p.b) out.push(`${set.name}: ${JSON.stringify(p)} overlaps ${JSON.stringify(q)}`);
      }
    }
  }
  return out;
}

describe('the Kubernetes stage as lookups', () => {
  it('decides every packet as the policies\' chains do, and no two elements of a set overlap', () => {
    fc.assert(
      fc.property(k8sSnapshotArb, (snapshot) => {
        const desired = calculatePolicy(snapshot);
        for (const set of desired.sets) expect(overlapping(set)).toEqual([]);
        for (const probe of PROBES) {
          const reference = evaluateConnection(desired, probe).verdict;
          if (verdictByLookups(desired, probe) !== reference) expect({ probe, verdict: verdictByLookups(desired, probe) }).toEqual({ probe, verdict: reference });
        }
      }),
      { numRuns: 120 },
    );
  });

  it('gives endpoints selected by the same policies one shared set', () => {
    const snapshot: PolicySnapshot = {
      nodeName: 'node1',
      endpoints: Array.from({ length: 100 }, (_, i) => pod('x', `w${i}`, `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}`, { labels: { app: 'web' } })),
      hostEndpoints: [],
      namespaces: [fromK8sNamespace({ metadata: { name: 'x' } })!],
      serviceAccounts: [],
      networkSets: [],
      config: DEFAULT_FELIX_POLICY_CONFIG,
      policies: Array.from({ length: 50 }, (_, k) =>
        k8s({ metadata: { name: `p${k}`, namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: `192.168.${k}.0/24` } }], ports: [{ port: 80 + k }] }] } }),
      ),
    };
    const desired = calculatePolicy(snapshot);
    const lookups = new Set(desired.workloads.flatMap((w) => w.ingress.stages.flatMap((s) => (s.lookup?.sets ?? []).map((l) => l.name))));
    expect(lookups.size).toBe(1);
    const set = desired.sets.find((s) => lookups.has(s.name))!;
    expect(set.kind).toBe('peer-ports');
    expect(set.elements).toHaveLength(50);
  });

  it('keeps a set\'s name when a peer pod comes, so only its elements change', () => {
    const base: PolicySnapshot = {
      nodeName: 'node1',
      endpoints: [pod('x', 'server', '10.1.0.1', { labels: { app: 'server' } })],
      hostEndpoints: [],
      namespaces: [fromK8sNamespace({ metadata: { name: 'x' } })!],
      serviceAccounts: [],
      networkSets: [],
      config: DEFAULT_FELIX_POLICY_CONFIG,
      policies: [k8s({ metadata: { name: 'p', namespace: 'x' }, spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }] } })],
    };
    const before = calculatePolicy(base);
    const after = calculatePolicy({ ...base, endpoints: [...base.endpoints, pod('x', 'client', '10.1.0.2', { labels: { app: 'client' }, node: 'node2' })] });
    const lookupOf = (d: DesiredPolicyState) => d.workloads[0]!.ingress.stages[0]!.lookup!.sets;
    expect(lookupOf(after)).toEqual(lookupOf(before));
    const elementsOf = (d: DesiredPolicyState) => d.sets.find((s) => s.name === lookupOf(d)[0]!.name)!.elements;
    expect(elementsOf(before)).toEqual([]);
    expect(elementsOf(after)).toEqual([{ first: '10.1.0.2', last: '10.1.0.2', protocol: 6, firstPort: 80, lastPort: 80 }]);

    // Through one PolicyCalculator: what did not change comes back as the same objects (the renderer memoises by them).
    const calculator = new PolicyCalculator();
    const first = calculator.calculate(base);
    const again = calculator.calculate({ ...base });
    expect(again.workloads[0]).toBe(first.workloads[0]);
    expect(again.sets.find((s) => s.name === lookupOf(again)[0]!.name)).toBe(first.sets.find((s) => s.name === lookupOf(first)[0]!.name));
    const moved = calculator.calculate({ ...base, endpoints: [...base.endpoints, pod('x', 'client', '10.1.0.2', { labels: { app: 'client' }, node: 'node2' })] });
    expect(moved.workloads[0]).toBe(first.workloads[0]);
    expect(elementsOf(moved)).toEqual(elementsOf(after));
  });
});

/** One change to a snapshot; everything it does not touch stays the same object, as the store hands it out. */
type Change =
  | { readonly kind: 'relabel'; readonly pod: number; readonly app: string }
  | { readonly kind: 'ports'; readonly pod: number; readonly ports: WorkloadEndpointModel['ports'] }
  | { readonly kind: 'address'; readonly pod: number; readonly address: string }
  | { readonly kind: 'remove-pod'; readonly pod: number }
  | { readonly kind: 'namespace'; readonly namespace: 'a' | 'b'; readonly team: string | null }
  | { readonly kind: 'policy'; readonly policy: PolicySnapshot['policies'][number] | null; readonly slot: number };

const portsArb = fc.subarray([
  { name: 'http', protocol: 'TCP', port: 8080 },
  { name: 'http', protocol: 'TCP', port: 8082 },
  { name: 'dns', protocol: 'UDP', port: 53 },
  { name: 'sig', protocol: 'SCTP', port: 9001 },
] as const);
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('relabel' as const), pod: fc.nat(4), app: fc.constantFrom('web', 'db', 'tool', 'other') }),
  fc.record({ kind: fc.constant('ports' as const), pod: fc.nat(4), ports: portsArb }),
  fc.record({ kind: fc.constant('address' as const), pod: fc.nat(4), address: fc.constantFrom('10.0.0.1', '10.0.0.3', '10.0.0.6', '10.0.0.13') }),
  fc.record({ kind: fc.constant('remove-pod' as const), pod: fc.nat(4) }),
  fc.record({ kind: fc.constant('namespace' as const), namespace: fc.constantFrom('a' as const, 'b' as const), team: fc.constantFrom('x', 'y', null) }),
  fc.record({
    kind: fc.constant('policy' as const),
    slot: fc.nat(3),
    policy: fc.option(
      k8sPolicyArb(9).map((p) => {
        const r = fromK8sNetworkPolicy(p);
        return r.ok ? r.value : null;
      }),
      { nil: null },
    ),
  }),
);

function applyChange(s: PolicySnapshot, c: Change, pods: readonly WorkloadEndpointModel[]): PolicySnapshot {
  const withPod = (i: number, make: (p: WorkloadEndpointModel) => WorkloadEndpointModel | null): PolicySnapshot => {
    const name = pods[i]!.name;
    const current = s.endpoints.find((e) => e.name === name) ?? pods[i]!;
    const next = make(current);
    return { ...s, endpoints: [...s.endpoints.filter((e) => e.name !== name), ...(next === null ? [] : [next])] };
  };
  switch (c.kind) {
    case 'relabel':
      return withPod(c.pod, (p) => ({ ...p, labels: { app: c.app } }));
    case 'ports':
      return withPod(c.pod, (p) => ({ ...p, ports: c.ports }));
    case 'address':
      return withPod(c.pod, (p) => ({ ...p, ipv4: [c.address] }));
    case 'remove-pod':
      return withPod(c.pod, () => null);
    case 'namespace': {
      const ns = fromK8sNamespace({ metadata: { name: c.namespace, labels: c.team === null ? {} : { team: c.team } } })!;
      return { ...s, namespaces: [...s.namespaces.filter((n) => n.name !== c.namespace), ns] };
    }
    case 'policy': {
      // A slot is one policy name: a new value replaces it, null removes it.
      const slotted = c.policy === null ? null : { ...c.policy, id: `${c.policy.id}-slot${c.slot}` };
      const slotId = (p: PolicySnapshot['policies'][number]) => p.id.endsWith(`-slot${c.slot}`);
      return { ...s, policies: [...s.policies.filter((p) => !slotId(p)), ...(slotted === null ? [] : [slotted])] };
    }
  }
}

describe('the Kubernetes stage through one PolicyCalculator', () => {
  it('gives what a fresh calculation gives as peer pods, namespace labels, named ports, addresses and policies change', () => {
    fc.assert(
      fc.property(k8sSnapshotArb, fc.array(changeArb, { minLength: 1, maxLength: 10 }), (start, changes) => {
        const kept = new PolicyCalculator();
        const pods = start.endpoints;
        let state = start;
        expect(JSON.stringify(kept.calculate(state))).toBe(JSON.stringify(calculatePolicy(state)));
        for (const change of changes) {
          state = applyChange(state, change, pods);
          expect(JSON.stringify(kept.calculate(state))).toBe(JSON.stringify(calculatePolicy(state)));
          // Calculating the same state again changes nothing, down to the objects.
          const again = kept.calculate({ ...state });
          const previous = kept.calculate(state);
          previous.workloads.forEach((w, i) => expect(again.workloads[i]).toBe(w));
          previous.sets.forEach((set, i) => expect(again.sets[i]).toBe(set));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('recomputes only the endpoint a new policy selects: the others come back as the same objects', () => {
    const endpoints = Array.from({ length: 6 }, (_, i) => pod('x', `w${i}`, `10.1.0.${i + 1}`, { labels: { app: `app-${i}` }, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }));
    const policy = (k: number, name = `p${k}`) =>
      k8s({
        metadata: { name, namespace: 'x' },
        spec: { podSelector: { matchLabels: { app: `app-${k}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % 6}` } } }], ports: [{ port: 'http' }, { port: 80 }] }] },
      });
    const base: PolicySnapshot = {
      nodeName: 'node1',
      endpoints,
      hostEndpoints: [],
      namespaces: [fromK8sNamespace({ metadata: { name: 'x' } })!],
      serviceAccounts: [],
      networkSets: [],
      config: DEFAULT_FELIX_POLICY_CONFIG,
      policies: Array.from({ length: 6 }, (_, k) => policy(k)),
    };
    const kept = new PolicyCalculator();
    const first = kept.calculate(base);
    const next = kept.calculate({ ...base, policies: [...base.policies, policy(0, 'probe')] });
    expect(JSON.stringify(next)).toBe(JSON.stringify(calculatePolicy({ ...base, policies: [...base.policies, policy(0, 'probe')] })));
    const changed = next.workloads.filter((w, i) => w !== first.workloads[i]).map((w) => w.id);
    expect(changed).toEqual(['x/w0']);
  });
});

describe('decomposePeerPorts', () => {
  const v4 = (first: number, last: number) => ({ family: 4 as const, first: BigInt(first), last: BigInt(last) });

  it('cuts overlapping port ranges into pieces holding the union of their peers, and joins equal neighbours', () => {
    const elements = decomposePeerPorts(
      [
        { protocol: 6, firstPort: 80, lastPort: 90, peers: [v4(10, 20)] },
        { protocol: 6, firstPort: 85, lastPort: 100, peers: [v4(15, 30)] },
        { protocol: 6, firstPort: 91, lastPort: 95, peers: [v4(15, 30)] },
      ],
      [],
    );
    expect(elements.map((e) => `${e.first}-${e.last} ${e.protocol} ${e.firstPort}-${e.lastPort}`)).toEqual([
      '0.0.0.10-0.0.0.20 6 80-84',
      '0.0.0.10-0.0.0.30 6 85-90',
      '0.0.0.15-0.0.0.30 6 91-100',
    ]);
  });

  it('leaves out peers the any-protocol set already allows', () => {
    const elements = decomposePeerPorts([{ protocol: 17, firstPort: 53, lastPort: 53, peers: [v4(0, 9)] }], [v4(0, 4)]);
    expect(elements).toEqual([{ first: '0.0.0.5', last: '0.0.0.9', protocol: 17, firstPort: 53, lastPort: 53 }]);
  });
});
