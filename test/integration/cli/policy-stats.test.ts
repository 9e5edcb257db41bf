import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleCounter, StageCounter } from '../../../felix/src/dataplane/counters.js';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import { k8s, pod } from '../../../felix/src/calc/scenarios.test-helpers.js';
import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../../../felix/src/model/config.js';
import { fromK8sNamespace } from '../../../felix/src/model/namespaces.js';
import { formatNftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';
import { kernelAccessProblem } from '../../harness/netns.js';
import { PodNetwork } from '../felix/pod-network.js';

/**
 * `tortie policy stats --netns NODE` as a user runs it, on a node namespace
 * whose `inet tortie` holds a rendered ruleset (two pods wired as the CNI
 * plugin wires them, test/integration/felix/pod-network.ts), after real
 * connections: allowed ones count on the Kubernetes stage of the pod they
 * reach, and nothing is counted as dropped when nothing was.
 */
const problem = await kernelAccessProblem();
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const id = `tps${process.pid % 100000}`;
const NODE = `${id}n`;
const PODS = [
  { key: 'a', addr: '10.0.1.1' },
  { key: 'b', addr: '10.0.1.2' },
] as const;
const ifnameOf = (key: string) => `tor${id}${key}`.slice(0, 15);

const snapshot: PolicySnapshot = {
  nodeName: 'node1',
  endpoints: PODS.map((p) => pod('x', p.key, p.addr, { labels: { pod: p.key }, interfaceName: ifnameOf(p.key) })),
  hostEndpoints: [],
  namespaces: [fromK8sNamespace({ metadata: { name: 'x' } })!],
  serviceAccounts: [],
  networkSets: [],
  config: DEFAULT_FELIX_POLICY_CONFIG,
  policies: [
    k8s({
      metadata: { name: 'b-web', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80 }] }, { ports: [{ port: 9999 }] }],
      },
    }),
  ],
};

async function tortie(args: string[]) {
  const r = await execa('node', ['--import', 'tsx', 'cli/src/main.ts', ...args], { cwd: repo, reject: false, stdin: 'ignore', stripFinalNewline: false, timeout: 60_000 });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe.skipIf(problem !== null)('tortie policy stats in a node namespace', () => {
  const net = new PodNetwork(NODE);
  const workDir = mkdtempSync(join(tmpdir(), 'tortie-policy-stats-'));

  beforeAll(async () => {
    await net.create();
    for (const p of PODS) {
      await net.addPod({ key: p.key, netns: `${id}${p.key}`, hostIfName: ifnameOf(p.key), address: p.addr });
      net.serveTcp(p.key, 80);
    }
    const end = Date.now() + 10_000;
    while (!(await net.connects('a', PODS[1].addr, 'TCP', 80))) {
      if (Date.now() > end) throw new Error('the server of b did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await net.destroy();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('exits 3 when the namespace has no inet tortie table', async () => {
    const r = await tortie(['policy', 'stats', '--netns', NODE]);
    expect(r).toEqual({ code: 3, stdout: '', stderr: `table inet tortie not found in netns ${NODE}: the policy agent has not programmed it\n` });
  }, 60_000);

  it('prints the packets of each policy rule after real connections', async () => {
    const path = join(workDir, 'ruleset.json');
    writeFileSync(path, formatNftJson(renderFullReplace(calculatePolicy(snapshot))));
    const applied = await execa('ip', ['netns', 'exec', NODE, 'nft', '-j', '-f', path], { reject: false });
    expect(applied.stderr).toBe('');

    const connections = 3;
    for (let i = 0; i < connections; i++) expect(await net.connects('a', PODS[1].addr, 'TCP', 80)).toBe(true);

    const json = await tortie(['policy', 'stats', '--netns', NODE, '-o', 'json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const { counters, kubernetesStages } = JSON.parse(json.stdout) as { counters: RuleCounter[]; kubernetesStages: StageCounter[] };
    // Kubernetes policies are one lookup per endpoint and direction: they count together, per endpoint.
    expect(counters).toEqual([]);
    // Only a connection's first packet reaches policy (conntrack accepts the rest).
    expect(kubernetesStages.map((s) => ({ ...s, allowed: { ...s.allowed, bytes: s.allowed.bytes > 0 } }))).toEqual([
      { endpoint: 'x/b', direction: 'ingress', allowed: { packets: connections, bytes: true }, dropped: { packets: 0, bytes: 0 } },
    ]);

    const table = await tortie(['policy', 'stats', '--netns', NODE]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n').slice(0, 2).map((l) => l.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      'ENDPOINT DIRECTION K8S-ALLOWED K8S-DROPPED',
      `x/b ingress ${connections} 0`,
    ]);
  }, 60_000);
});
