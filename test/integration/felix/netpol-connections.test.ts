import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import { allPods, caseSnapshots, expectedAllowed, loadNetpolCases, podAddress, type CaseWiring } from '../../../felix/src/conformance/netpol-cases.js';
import { formatNftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';
import { mapLimit, PodNetwork } from './pod-network.js';

// Every shared NetworkPolicy case on real connections between nine pods
// (network namespaces wired as the CNI plugin wires them), with the rendered
// ruleset applied as a full replace in the node namespace at each step.
// TCP and UDP probes connect for real; the kernel here has no SCTP sockets,
// so SCTP probes are judged by the rules (nft -c in nft-check.test.ts and the
// evaluator in evaluate-netpol-cases.test.ts) and skipped here.
// This is the rendered-ruleset half of conformance; the agent half (watch,
// apply loop, policies applied one by one) comes with the live agent.
const isRoot = process.getuid?.() === 0;
const file = loadNetpolCases();
const id = `tfc${process.pid % 100000}`;
const net = new PodNetwork(`${id}n`);
const wiring: CaseWiring = {
  address: (pod) => podAddress(file, pod),
  interfaceName: (pod) => `tor${id}${pod.replace('/', '')}`,
  node: 'node1',
};
const pods = allPods(file);
const workDir = mkdtempSync(join(tmpdir(), 'tortie-netpol-'));

describe.skipIf(!isRoot)('NetworkPolicy conformance cases on real connections', () => {
  beforeAll(async () => {
    await net.create();
    for (const pod of pods) {
      await net.addPod({ key: pod, netns: `${id}${pod.replace('/', '')}`, hostIfName: wiring.interfaceName(pod), address: wiring.address(pod) });
      for (const port of [80, 81]) net.serveTcp(pod, port);
      net.serveUdp(pod, [80, 81]);
    }
    // Servers up: every pod answers on TCP 80 and UDP 81 with no ruleset yet.
    const end = Date.now() + 20_000;
    for (const pod of pods) {
      const from = pod === pods[0] ? pods[1]! : pods[0]!;
      while (!((await net.connects(from, wiring.address(pod), 'TCP', 80)) && (await net.connects(from, wiring.address(pod), 'UDP', 81)))) {
        if (Date.now() > end) throw new Error(`servers of ${pod} did not come up`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }, 120_000);

  afterAll(async () => {
    await net.destroy();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('finds the cases', () => {
    expect(file.cases.length).toBeGreaterThan(40);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))(
    '%s',
    async (_name, c) => {
      const mismatches: string[] = [];
      let judged = 0;
      for (const { index, step, snapshot } of caseSnapshots(file, c, wiring)) {
        const path = join(workDir, `${c.id}-${index}.json`);
        writeFileSync(path, formatNftJson(renderFullReplace(calculatePolicy(snapshot))));
        const applied = await execa('ip', ['netns', 'exec', net.nodeNetns, 'nft', '-j', '-f', path], { reject: false });
        expect(applied.stderr).toBe('');
        for (const probe of step.probes) {
          if (probe.protocol === 'SCTP') continue; // no SCTP sockets on this kernel; judged by the rules elsewhere
          const pairs = pods.flatMap((from) => pods.map((to) => [from, to] as const)).filter(([from, to]) => from !== to);
          const probeOnce = (list: readonly (readonly [string, string])[]) =>
            mapLimit(list, 16, ([from, to]) => net.connects(from, wiring.address(to), probe.protocol as 'TCP' | 'UDP', probe.port));
          const first = await probeOnce(pairs);
          // Upstream retries the matrix once on a mismatch; so do we, for the mismatched pairs only.
          const retry = pairs.filter(([from, to], i) => first[i] !== expectedAllowed(probe, from, to));
          const second = await probeOnce(retry);
          judged += pairs.length;
          retry.forEach(([from, to], i) => {
            const expected = expectedAllowed(probe, from, to)!;
            if (second[i] !== expected) mismatches.push(`step ${index} ${probe.port}/${probe.protocol} ${from} -> ${to}: expected ${expected ? 'connect' : 'blocked'}`);
          });
        }
      }
      expect(mismatches).toEqual([]);
      if (c.features.includes('tcp') || c.features.includes('udp')) expect(judged).toBeGreaterThan(0);
    },
    120_000,
  );
});
