import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../../../felix/src/calc/evaluate.js';
import { allPods, caseSnapshots, expectedAllowed, loadNetpolCases } from '../../../felix/src/conformance/netpol-cases.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { parseConfigFromEnv } from '../config.js';
import type { CommandContext } from '../context.js';
import { explanationOf, formatExplanation, parseExplainEnd, parseExplainPort, runPolicyExplain, type Explanation, type PolicyExplainFlags } from './policy-explain.js';
import { caseStepResources, syncResources } from './policy-netpol-cases.test-helpers.js';

function contextFor(datastore: Datastore) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    config: parseConfigFromEnv({}),
    datastore: async () => datastore,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => '',
  };
  return { ctx, out, err };
}

async function explain(datastore: Datastore, flags: Partial<PolicyExplainFlags>) {
  const c = contextFor(datastore);
  const code = await runPolicyExplain(c.ctx, { from: 'x/a', to: 'y/b', port: '80/TCP', output: 'json', ...flags });
  return { code, stdout: c.out.join(''), stderr: c.err.join('') };
}

// Issue 5: "tortie policy explain answers correctly for the conformance cases".
// Every judged probe of every step of every shared case, with the case's
// objects written to a datastore and asked through the command, as a user would.
describe('tortie policy explain on the NetworkPolicy conformance cases (memory datastore)', () => {
  const file = loadNetpolCases();
  const pods = allPods(file);

  it('finds the cases', () => {
    expect(file.cases.length).toBeGreaterThan(40);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const datastore = createMemoryDatastore();
    const mismatches: string[] = [];
    let judged = 0;
    for (const { index, step, snapshot, rawPolicies } of caseSnapshots(file, c)) {
      await syncResources(datastore, caseStepResources(snapshot, rawPolicies));
      for (const probe of step.probes) {
        for (const from of pods) {
          for (const to of pods) {
            const expected = expectedAllowed(probe, from, to);
            if (expected === null) continue;
            judged++;
            const r = await explain(datastore, { from, to, port: `${probe.port}/${probe.protocol}` });
            if (r.code !== 0) {
              mismatches.push(`step ${index} ${from} -> ${to}: exit ${r.code}: ${r.stderr}`);
              continue;
            }
            const x = JSON.parse(r.stdout) as Explanation;
            if ((x.verdict === 'allow') !== expected) mismatches.push(`step ${index} ${probe.port}/${probe.protocol} ${from} -> ${to}: got ${x.verdict}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(judged).toBeGreaterThan(0);
  });
});

describe('tortie policy explain', () => {
  const denyIngress = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'deny-all', namespace: 'y' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  };
  const allowWeb = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-80', namespace: 'y' },
    spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }] },
  };
  async function cluster(policies: object[]): Promise<Datastore> {
    const file = loadNetpolCases();
    const first = caseSnapshots(file, file.cases[0]!).next().value!;
    const datastore = createMemoryDatastore();
    await syncResources(datastore, caseStepResources(first.snapshot, []));
    for (const p of policies) await datastore.create(Kinds.K8sNetworkPolicy, structuredClone(p) as never);
    return datastore;
  }

  it('names the policies that select the destination, the deciding rule, and the verdict', async () => {
    const datastore = await cluster([denyIngress, allowWeb]);
    const allowed = await explain(datastore, { port: '80/TCP' });
    expect(allowed.code).toBe(0);
    const x = JSON.parse(allowed.stdout) as Explanation;
    expect(x).toMatchObject({
      from: { name: 'x/a', address: '10.0.1.1' },
      to: { name: 'y/b', address: '10.0.2.2' },
      verdict: 'allow',
      egress: { endpoint: 'x/a', policies: [], result: 'allow', decidedBy: { kind: 'no-policy', action: 'allow' } },
      ingress: { endpoint: 'y/b', policies: ['knp/y/allow-80', 'knp/y/deny-all'], result: 'allow', decidedBy: { kind: 'rule', policy: 'knp/y/allow-80', ruleIndex: 0, action: 'allow' } },
    });

    const denied = await explain(datastore, { port: '81/TCP', output: 'text' });
    expect(denied.code).toBe(0);
    expect(denied.stdout).toBe(
      [
        'Connection: x/a (10.0.1.1) -> y/b (10.0.2.2) port 81/TCP',
        '',
        'Egress at the source x/a:',
        '  selected by: (none)',
        '  decided by:  no policy selects it: allow',
        'Ingress at the destination y/b:',
        '  selected by: knp/y/allow-80, knp/y/deny-all',
        '  decided by:  no rule of knp/y/allow-80, knp/y/deny-all matches: end of the kubernetes policies, deny',
        '',
        'Verdict: DENY',
        '(knp = Kubernetes NetworkPolicy)',
        '',
      ].join('\n'),
    );
  });

  it('takes an address for an end that is no pod, and says nothing filters that direction', async () => {
    const datastore = await cluster([denyIngress]);
    const r = await explain(datastore, { from: '192.0.2.7', to: 'x/a', port: '53/UDP' });
    expect(r.code).toBe(0);
    const x = JSON.parse(r.stdout) as Explanation;
    expect(x).toMatchObject({ from: { name: '192.0.2.7' }, egress: { endpoint: null, result: 'not-filtered' }, ingress: { endpoint: 'x/a', result: 'allow' }, verdict: 'allow', protocol: 'UDP' });
  });

  it('exits 3 naming a pod that is not found', async () => {
    const datastore = await cluster([]);
    const r = await explain(datastore, { from: 'x/nope' });
    expect(r).toEqual({ code: 3, stdout: '', stderr: '--from: pod x/nope not found\n' });
  });

  it.each([
    [{ port: '80/ICMP' }, '--port "80/ICMP"'],
    [{ port: '0' }, '--port "0"'],
    [{ port: '70000/TCP' }, '--port "70000/TCP"'],
    [{ to: 'just-a-name' }, '--to "just-a-name"'],
    [{ from: 'X/Upper' }, '--from "X/Upper"'],
  ])('exits 1 for a bad argument %j, naming it', async (flags, named) => {
    const datastore = await cluster([]);
    const r = await explain(datastore, flags);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(named);
    expect(r.stdout).toBe('');
  });

  it('warns about an object the agent would ignore, and evaluates without it', async () => {
    const datastore = await cluster([{ ...denyIngress, spec: { podSelector: {}, policyTypes: ['Sideways'] } }]);
    const r = await explain(datastore, {});
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: NetworkPolicy y\/deny-all is ignored/);
    expect((JSON.parse(r.stdout) as Explanation).verdict).toBe('allow');
  });
});

describe('the pure parts', () => {
  it('parses ends and ports', () => {
    expect(parseExplainEnd('--from', 'ns/pod-1')).toEqual({ ok: true, end: { kind: 'pod', name: 'ns/pod-1' } });
    expect(parseExplainEnd('--to', 'fd00::1')).toEqual({ ok: true, end: { kind: 'address', address: 'fd00::1' } });
    expect(parseExplainPort('443')).toEqual({ ok: true, port: 443, protocol: 'TCP' });
    expect(parseExplainPort('53/udp')).toEqual({ ok: true, port: 53, protocol: 'UDP' });
  });

  it('shows a pass, then the deciding rule, and an ingress not evaluated after an egress deny', () => {
    const e: Evaluation = {
      verdict: 'deny',
      source: { endpoint: 'x/a', egressPolicies: ['gnp/base', 'np/x/lock'] },
      destination: { endpoint: 'y/b', ingressPolicies: [] },
      decidedBy: [
        { direction: 'egress', endpoint: 'x/a', kind: 'rule', stage: 'tortie', policyId: 'gnp/base', ruleIndex: 2, action: 'pass' },
        { direction: 'egress', endpoint: 'x/a', kind: 'rule', stage: 'kubernetes', policyId: 'np/x/lock', ruleIndex: 0, action: 'deny' },
      ],
    };
    const text = formatExplanation(explanationOf(e, { from: { name: 'x/a', address: '10.0.1.1' }, to: { name: 'y/b', address: '10.0.2.2' } }, 80, 'TCP'));
    expect(text).toContain('  then:        gnp/base rule 2 matches: pass\n  decided by:  np/x/lock rule 0 matches: deny\n');
    expect(text).toContain('Ingress at the destination y/b:\n  selected by: (none)\n  not evaluated: egress already denied the connection\n');
    expect(text).toContain('(np = tortie NetworkPolicy; gnp = tortie GlobalNetworkPolicy)');
  });
});
