import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import type { DesiredPolicyState } from '../../../felix/src/calc/desired.js';
import { evaluateConnection } from '../../../felix/src/calc/evaluate.js';
import { k8s, pod, tortie } from '../../../felix/src/calc/scenarios.test-helpers.js';
import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../../../felix/src/model/config.js';
import { fromK8sNamespace } from '../../../felix/src/model/namespaces.js';
import { readKubernetesStageCounters, readPolicyCounters } from '../../../felix/src/dataplane/counters.js';
import { formatNftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';
import { PodNetwork } from './pod-network.js';

// Real TCP connections through a rendered ruleset: a "node" namespace routes
// between three pod namespaces wired as the CNI plugin wires them (veth with
// the pod end made in the pod's netns, /32 addresses, default route via
// 169.254.1.1; static neighbours instead of proxy ARP to keep it
// deterministic). It proves the mechanics nft -c cannot: Pass handing over to
// the Kubernetes stage, an egress Allow that still lets the destination's
// ingress decide, end-of-stage drops, and anti-spoofing; and that the kernel
// agrees with evaluateConnection on each probe. netpol-conformance runs the
// shared cases through the live agent's NftTable.
const isRoot = process.getuid?.() === 0;
const id = `tfx${process.pid % 100000}`;
const NODE = `${id}n`;
const PODS = [
  { key: 'a', ns: 'x', addr: '10.0.1.1', labels: { pod: 'a' } },
  { key: 'b', ns: 'x', addr: '10.0.1.2', labels: { pod: 'b' } },
  { key: 'c', ns: 'y', addr: '10.0.2.3', labels: { pod: 'c' } },
] as const;
const SPOOFED = '10.0.9.9';
const netnsOf = (key: string) => `${id}${key}`;
const ifnameOf = (key: string) => `tor${id}${key}`.slice(0, 15);

const snapshot: PolicySnapshot = {
  nodeName: 'node1',
  endpoints: PODS.map((p) => pod(p.ns, p.key, p.addr, { labels: p.labels, interfaceName: ifnameOf(p.key) })),
  hostEndpoints: [],
  namespaces: ['x', 'y'].map((name) => fromK8sNamespace({ metadata: { name } })!),
  serviceAccounts: [],
  networkSets: [],
  config: DEFAULT_FELIX_POLICY_CONFIG,
  policies: [
    tortie({
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'gate' },
      spec: { order: 10, selector: 'has(projectcalico.org/namespace)', ingress: [{ action: 'Deny', source: { selector: 'pod == "c"' } }, { action: 'Pass' }] },
    }),
    tortie({
      kind: 'NetworkPolicy',
      metadata: { name: 'a-out', namespace: 'x' },
      spec: { order: 20, selector: 'pod == "a"', types: ['Egress'], egress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80, 81] } }] },
    }),
    k8s({
      metadata: { name: 'b-from-a', namespace: 'x' },
      spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80 }] }] },
    }),
  ],
};

const PROBES = [
  { from: 'a', to: 'b', port: 80, expected: true, why: 'a egress allows, b ingress: gate passes, Kubernetes policy allows' },
  { from: 'a', to: 'b', port: 81, expected: false, why: 'a egress allows, yet b ingress ends its Kubernetes stage' },
  { from: 'a', to: 'c', port: 82, expected: false, why: 'a egress ends its tortie stage' },
  { from: 'c', to: 'b', port: 80, expected: false, why: 'gate denies c' },
  { from: 'b', to: 'a', port: 80, expected: true, why: 'gate passes and a has no Kubernetes policy' },
  { from: 'b', to: 'c', port: 82, expected: true, why: 'gate passes and c has no Kubernetes policy' },
] as const;

const net = new PodNetwork(NODE);
const connects = (from: string, toAddr: string, port: number, bind?: string) => net.connects(from, toAddr, 'TCP', port, bind);

describe.skipIf(!isRoot)('rendered rulesets on real connections', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'tortie-nft-packets-'));
  let desired: DesiredPolicyState;

  beforeAll(async () => {
    await net.create();
    for (const p of PODS) {
      await net.addPod({ key: p.key, netns: netnsOf(p.key), hostIfName: ifnameOf(p.key), address: p.addr });
      for (const port of [80, 81, 82]) net.serveTcp(p.key, port);
    }
    await net.addExtraAddress('a', SPOOFED);
    const end = Date.now() + 10_000;
    for (const p of PODS) {
      while (!(await connects(p.key === 'a' ? 'b' : 'a', p.addr, 82))) {
        if (Date.now() > end) throw new Error(`servers of ${p.key} did not come up`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    desired = calculatePolicy(snapshot);
  }, 60_000);

  afterAll(async () => {
    await net.destroy();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('connects everywhere, spoofed source included, before any ruleset', async () => {
    for (const p of PROBES) expect(await connects(p.from, PODS.find((x) => x.key === p.to)!.addr, p.port)).toBe(true);
    expect(await connects('a', PODS[1].addr, 80, SPOOFED)).toBe(true);
  });

  it('applies the full replace in the node namespace', async () => {
    const path = join(workDir, 'ruleset.json');
    writeFileSync(path, formatNftJson(renderFullReplace(desired)));
    for (let i = 0; i < 2; i++) {
      // Twice: replacing an existing table works too.
      const r = await execa('ip', ['netns', 'exec', NODE, 'nft', '-j', '-f', path], { reject: false });
      expect(r.stderr).toBe('');
    }
  });

  it.each(PROBES)('$from -> $to:$port is $expected ($why), and the evaluator agrees', async ({ from, to, port, expected }) => {
    const src = PODS.find((x) => x.key === from)!;
    const dst = PODS.find((x) => x.key === to)!;
    const evaluated = evaluateConnection(desired, { source: src.addr, destination: dst.addr, protocol: 6, destinationPort: port, sourcePort: 40000 });
    expect(evaluated.verdict === 'allow').toBe(expected);
    expect(await connects(from, dst.addr, port)).toBe(expected);
  });

  it('drops a pod sending from an address that is not its own', async () => {
    expect(await connects('a', PODS[1].addr, 80)).toBe(true);
    expect(await connects('a', PODS[1].addr, 80, SPOOFED)).toBe(false);
  });

  it('counts matched packets per policy rule, and per endpoint for the Kubernetes stage (tortie policy stats)', async () => {
    const r = await execa('ip', ['netns', 'exec', NODE, 'nft', '-j', 'list', 'table', 'inet', 'tortie']);
    const counters = readPolicyCounters(JSON.parse(r.stdout));
    const packets = (policyId: string, ruleIndex: number) => counters.find((c) => c.policyId === policyId && c.ruleIndex === ruleIndex)?.packets ?? 0;
    expect(packets('gnp/gate', 0)).toBeGreaterThan(0); // c denied
    expect(packets('gnp/gate', 1)).toBeGreaterThan(0); // everything else passed
    expect(packets('np/x/a-out', 0)).toBeGreaterThan(0);
    // Kubernetes policies count together, per endpoint: a's connection to b:80 was allowed, to b:81 dropped.
    const stage = readKubernetesStageCounters(JSON.parse(r.stdout)).find((c) => c.endpoint === 'x/b' && c.direction === 'ingress');
    expect(stage?.allowed.packets).toBeGreaterThan(0);
    expect(stage?.dropped.packets).toBeGreaterThan(0);
  });
});
