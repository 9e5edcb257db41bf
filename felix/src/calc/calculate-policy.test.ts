import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endpointKey } from '../model/endpoints.js';
import { caseSnapshots, loadNetpolCases } from '../conformance/netpol-cases.js';
import { calculatePolicy, PolicyCalculator } from './calculate-policy.js';
import { HISTORY, k8s, pod, SCENARIOS, tortie } from './scenarios.test-helpers.js';
import { PolicyStore, updateKeys, type PolicySnapshot, type SnapshotUpdate } from './snapshot.js';

const mixed = SCENARIOS['mixed']!;

/** The updates that turn state `from` into state `to`, key by key. */
function diff(from: PolicySnapshot, to: PolicySnapshot): SnapshotUpdate[] {
  const out: SnapshotUpdate[] = [];
  const kinds = [
    ['endpoint', 'endpoints', updateKeys.endpoint],
    ['hostEndpoint', 'hostEndpoints', updateKeys.hostEndpoint],
    ['namespace', 'namespaces', updateKeys.namespace],
    ['serviceAccount', 'serviceAccounts', updateKeys.serviceAccount],
    ['policy', 'policies', updateKeys.policy],
    ['networkSet', 'networkSets', updateKeys.networkSet],
  ] as const;
  for (const [kind, field, keyOf] of kinds) {
    const a = new Map((from[field] as readonly never[]).map((v) => [(keyOf as (v: never) => string)(v), v]));
    const b = new Map((to[field] as readonly never[]).map((v) => [(keyOf as (v: never) => string)(v), v]));
    for (const [key, value] of b) if (JSON.stringify(a.get(key)) !== JSON.stringify(value)) out.push({ kind, key, value } as SnapshotUpdate);
    for (const key of a.keys()) if (!b.has(key)) out.push({ kind, key, value: null } as SnapshotUpdate);
  }
  if (JSON.stringify(from.config) !== JSON.stringify(to.config)) out.push({ kind: 'config', key: 'config', value: to.config });
  return out;
}

const states = HISTORY;
const expected = states.map((s) => JSON.stringify(calculatePolicy(s)));

/** Replays through a fresh calculation per state and through one PolicyCalculator kept across them (its memo). */
function replay(order: number[], duplicate: boolean): void {
  const store = new PolicyStore('node1');
  const kept = new PolicyCalculator();
  let current = states[0]!;
  for (const i of order) {
    for (const u of diff(current, states[i]!)) {
      store.apply(u);
      if (duplicate) store.apply(u);
    }
    current = states[i]!;
    expect(JSON.stringify(calculatePolicy(store.snapshot()))).toBe(expected[i]);
    expect(JSON.stringify(kept.calculate(store.snapshot()))).toBe(expected[i]);
  }
}

describe('PolicyCalculator', () => {
  it('gives what a fresh calculation gives at every step of every netpol case, kept across the cases', () => {
    const file = loadNetpolCases();
    const kept = new PolicyCalculator();
    let steps = 0;
    for (const c of file.cases) {
      for (const { snapshot } of caseSnapshots(file, c)) {
        expect(JSON.stringify(kept.calculate(snapshot))).toBe(JSON.stringify(calculatePolicy(snapshot)));
        steps++;
      }
    }
    expect(steps).toBeGreaterThan(20);
  });

  it('hands back the very same objects for what did not change, and new ones for what did', () => {
    const kept = new PolicyCalculator();
    const first = kept.calculate(mixed);
    const again = kept.calculate({ ...mixed, endpoints: [...mixed.endpoints].reverse() });
    first.policyChains.forEach((c, i) => expect(again.policyChains[i]).toBe(c));
    first.sets.forEach((s, i) => expect(again.sets[i]).toBe(s));
    first.workloads.forEach((w, i) => expect(again.workloads[i]).toBe(w));
    const changed = mixed.policies[0]!;
    const next = kept.calculate({ ...mixed, policies: [{ ...changed }, ...mixed.policies.slice(1)] });
    const rebuilt = next.policyChains.filter((c) => c.policyId === changed.id);
    expect(rebuilt.length).toBeGreaterThan(0);
    for (const c of rebuilt) expect(first.policyChains).not.toContain(c);
    expect(next.policyChains.filter((c) => c.policyId !== changed.id).every((c) => first.policyChains.includes(c))).toBe(true);
  });
});

describe('calculatePolicy depends on the current state only', () => {
  it('gives the same result for updates played forward', () => replay([1, 2, 3, 4, 5, 6], false));
  it('gives the same result for updates played in reverse', () => replay([6, 5, 4, 3, 2, 1, 0], false));
  it('gives the same result with every update delivered twice', () => replay([1, 2, 3, 4, 5, 6, 5, 4], true));
  it('gives the same result when the history is squashed into one jump', () => {
    for (const i of [2, 4, 6]) replay([i], false);
  });
  it('gives the same result in any order of states, and of the snapshot arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: states.length - 1 }), { maxLength: 8 }), fc.boolean(), (order, dup) => replay(order, dup)),
      { numRuns: 40 },
    );
    const shuffled: PolicySnapshot = {
      ...mixed,
      endpoints: [...mixed.endpoints].reverse(),
      policies: [...mixed.policies].reverse(),
      namespaces: [...mixed.namespaces].reverse(),
    };
    expect(JSON.stringify(calculatePolicy(shuffled))).toBe(expected[2]);
  });
});

describe('calculatePolicy', () => {
  const desired = calculatePolicy(mixed);

  it('gives dispatch only to endpoints of its own node', () => {
    expect(desired.workloads.map((w) => w.id)).toEqual(['prod/db-1', 'dev/tool-1', 'prod/web-1']);
    expect(desired.hostEndpoints.map((h) => h.id)).toEqual(['node1-eth0']);
  });

  it('orders tortie policies by order, then Kubernetes policies, per direction', () => {
    const web = desired.workloads.find((w) => w.id === 'prod/web-1')!;
    expect(web.ingress.stages).toEqual([
      { stage: 'tortie', chains: ['pi-gnp/edge', 'pi-np/prod/web'] },
      { stage: 'kubernetes', chains: ['pi-knp/prod/default-deny', 'pi-knp/prod/web-from-corp'], lookup: { sets: [{ name: expect.stringMatching(/^kport4-/), kind: 'peer-ports', family: 4 }] } },
    ]);
    expect(web.egress.stages).toEqual([{ stage: 'tortie', chains: ['po-np/prod/web'] }]);
    const tool = desired.workloads.find((w) => w.id === 'dev/tool-1')!;
    expect(tool.ingress.stages).toEqual([{ stage: 'tortie', chains: ['pi-gnp/edge'] }]);
    expect(tool.egress).toEqual({ stages: [], fallthrough: 'allow' });
    expect(desired.hostEndpoints[0]!.ingress).toEqual({ stages: [{ stage: 'tortie', chains: ['pi-gnp/host'] }], fallthrough: 'drop' });
  });

  it('shares one set between identical selectors and holds members of every node', () => {
    const a = tortie({ kind: 'NetworkPolicy', metadata: { name: 'a', namespace: 'prod' }, spec: { ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] } });
    const b = tortie({ kind: 'NetworkPolicy', metadata: { name: 'b', namespace: 'prod' }, spec: { ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] } });
    const d = calculatePolicy({ ...mixed, policies: [a, b] });
    const setsOf = (name: string) => d.policyChains.find((c) => c.name === name)!.rules.map((r) => r.source.sets[0]);
    expect(setsOf('pi-np/prod/a')).toEqual(setsOf('pi-np/prod/b'));
    const v4 = d.sets.find((s) => s.name === setsOf('pi-np/prod/a')[0])!;
    expect(v4.elements).toEqual(['10.65.0.2/32', '10.65.1.2/32']);
  });

  it('resolves named ports per destination endpoint, with the rule protocol', () => {
    const chain = desired.policyChains.find((c) => c.name === 'po-np/prod/web')!;
    const named = chain.rules.filter((r) => r.destination.namedPortSet !== null);
    expect(named.map((r) => r.family)).toEqual([4, 6]);
    const set = desired.sets.find((s) => s.name === named[0]!.destination.namedPortSet)!;
    expect(set.elements).toEqual([{ address: '10.65.0.3', protocol: 6, port: 5432 }]);
    // Numbered and named ports of one rule are ORed: two nft rules.
    expect(chain.rules.filter((r) => r.ruleIndex === 0 && r.destination.ports !== null).map((r) => r.destination.ports)).toEqual([
      [{ first: 5433, last: 5433 }],
      [{ first: 5433, last: 5433 }],
    ]);
  });

  it('gives a named port no pod has an empty set, which matches nothing', () => {
    const p = k8s({ metadata: { name: 'p', namespace: 'prod' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 'nope' }] }] } });
    const d = calculatePolicy({ ...mixed, policies: [p] });
    const sets = d.sets.filter((s) => s.kind === 'named-ports');
    expect(sets.length).toBeGreaterThan(0);
    for (const s of sets) expect(s.elements).toEqual([]);
  });

  it('drops a family from a rule whose nets have none of it', () => {
    const chain = desired.policyChains.find((c) => c.name === 'pi-knp/prod/web-from-corp')!;
    expect(new Set(chain.rules.map((r) => r.family))).toEqual(new Set([4]));
  });

  it('lets the first endpoint by id keep an interface two endpoints claim', () => {
    const d = calculatePolicy({ ...mixed, endpoints: [pod('b', 'x', '10.9.0.2', { interfaceName: 'torsame' }), pod('a', 'x', '10.9.0.1', { interfaceName: 'torsame' })] });
    expect(d.workloads.map((w) => w.id)).toEqual(['a/x']);
  });

  it('uses the failsafe ports of the configuration', () => {
    expect(calculatePolicy(SCENARIOS['custom-failsafe']!).failsafe.inbound.map((p) => `${p.protocol}/${p.port}`)).toEqual(['TCP/22', 'TCP/6443', 'UDP/4789']);
  });

  it('keys endpoints as namespace/name', () => {
    expect(endpointKey(mixed.endpoints[0]!)).toBe('prod/web-1');
  });
});
