import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import { k8sSnapshotArb } from '../../../felix/src/calc/kubernetes-policies.test-helpers.js';
import { SCENARIOS } from '../../../felix/src/calc/scenarios.test-helpers.js';
import type { PolicyModel } from '../../../felix/src/model/policies.js';
import { fromTortiePolicy, type TortieEntityRule, type TortieRule } from '../../../felix/src/model/tortie-policy.js';
import { formatNftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';

// Random tortie policies over the mixed scenario: whatever the converter
// accepts, the renderer must turn into a ruleset the real nft accepts
// (families, ICMP, negations, named and numbered ports, nets of both
// families, empty sets). Each run is one `nft -c` (nothing is applied).
const isRoot = process.getuid?.() === 0;
const workDir = mkdtempSync(join(tmpdir(), 'tortie-nft-fuzz-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const selectorArb = fc.constantFrom('app == "web"', 'app in {"db", "tool"}', 'has(app)', '!has(app)', 'net == "corp"', 'all()', 'role == "node"');
const netsArb = fc.subarray(['10.0.0.0/8', '10.65.0.2/32', '192.168.100.0/24', '0.0.0.0/0', 'fd00::/64', '2001:db8:c0::/48', '::/0'], { minLength: 1 });
const portsArb = fc.subarray([80, 443, '8000:8100', 'http', 'pg', 'metrics', 'nope', 0, 65535] as (number | string)[], { minLength: 1 });
const entityArb: fc.Arbitrary<TortieEntityRule> = fc.record(
  {
    selector: maybe(selectorArb),
    notSelector: maybe(selectorArb),
    namespaceSelector: maybe(fc.constantFrom('team == "a"', 'all()', 'global()')),
    nets: maybe(netsArb),
    notNets: maybe(netsArb),
    ports: maybe(portsArb),
    notPorts: maybe(portsArb),
    serviceAccounts: maybe(fc.record({ names: maybe(fc.constant(['web'])), selector: maybe(fc.constant('tier == "front"')) })),
  },
  { requiredKeys: [] },
);
const ruleArb: fc.Arbitrary<TortieRule> = fc.record(
  {
    action: fc.constantFrom('Allow', 'Deny', 'Pass', 'Log'),
    ipVersion: maybe(fc.constantFrom(4, 6)),
    protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP', 'UDPLite', 'ICMP', 'ICMPv6', 47)),
    notProtocol: maybe(fc.constantFrom('TCP', 'UDP', 'ICMP', 99)),
    icmp: maybe(fc.record({ type: fc.integer({ min: 0, max: 254 }), code: maybe(fc.integer({ min: 0, max: 255 })) }, { requiredKeys: ['type'] })),
    notICMP: maybe(fc.record({ type: fc.integer({ min: 0, max: 254 }), code: maybe(fc.integer({ min: 0, max: 255 })) }, { requiredKeys: ['type'] })),
    source: maybe(entityArb),
    destination: maybe(entityArb),
  },
  { requiredKeys: ['action'] },
).map((r) => {
  // Keep most rules valid, so the renderer sees many of them: ports only with a
  // port protocol, ICMP matches only with ICMP, ipVersion that agrees with it.
  const hasPorts = r.protocol === 'TCP' || r.protocol === 'UDP' || r.protocol === 'SCTP' || r.protocol === 'UDPLite';
  const isIcmp = r.protocol === 'ICMP' || r.protocol === 'ICMPv6';
  const strip = (e: TortieEntityRule | undefined) => (e === undefined || hasPorts ? e : { ...e, ports: undefined, notPorts: undefined });
  return {
    ...r,
    ipVersion: isIcmp ? undefined : r.ipVersion,
    icmp: isIcmp ? r.icmp : undefined,
    notICMP: isIcmp ? r.notICMP : undefined,
    source: strip(r.source ?? undefined),
    destination: strip(r.destination ?? undefined),
  };
});
const policyArb = fc.record({
  global: fc.boolean(),
  order: maybe(fc.integer({ min: 0, max: 1000 })),
  selector: maybe(selectorArb),
  ingress: fc.array(ruleArb, { maxLength: 4 }),
  egress: fc.array(ruleArb, { maxLength: 4 }),
});

describe.skipIf(!isRoot)('random tortie policies', () => {
  it('always render to a ruleset nft -c accepts', async () => {
    let accepted = 0;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(policyArb, { minLength: 1, maxLength: 4 }), async (specs) => {
        const policies: PolicyModel[] = [];
        specs.forEach((s, i) => {
          const r = fromTortiePolicy({
            kind: s.global ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
            metadata: { name: `fuzz-${i}`, namespace: s.global ? undefined : 'prod' },
            spec: { order: s.order, selector: s.selector, ingress: s.ingress, egress: s.egress },
          });
          if (r.ok) policies.push(r.value);
        });
        if (policies.length === 0) return;
        accepted++;
        const text = formatNftJson(renderFullReplace(calculatePolicy({ ...SCENARIOS['mixed']!, policies: [...SCENARIOS['mixed']!.policies, ...policies] })));
        const path = join(workDir, `r${n++}.json`);
        writeFileSync(path, text);
        const r = await execa('nft', ['-c', '-j', '-f', path], { reject: false });
        rmSync(path);
        if (r.exitCode !== 0) throw new Error(`nft -c refused: ${r.stderr}\npolicies: ${JSON.stringify(specs)}`);
      }),
      { numRuns: Number(process.env["FUZZ_RUNS"] ?? 60), seed: Number(process.env["FUZZ_SEED"] ?? 20261123) },
    );
    // The generator must produce policies the converter accepts, or this proves nothing.
    expect(accepted).toBeGreaterThan(10);
  }, 120_000);
});

// Random Kubernetes NetworkPolicies: their stage is concatenated interval sets,
// whose elements the kernel refuses when two overlap ("File exists"); `nft -c`
// hands the transaction to the kernel, which checks that too.
describe.skipIf(!isRoot)('random Kubernetes policies', () => {
  it('always render to lookup sets the kernel accepts', async () => {
    let withElements = 0;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(k8sSnapshotArb, async (snapshot) => {
        const desired = calculatePolicy(snapshot);
        if (desired.sets.some((s) => s.kind === 'peer-ports' && s.elements.length > 1)) withElements++;
        const path = join(workDir, `k${n++}.json`);
        writeFileSync(path, formatNftJson(renderFullReplace(desired)));
        const r = await execa('nft', ['-c', '-j', '-f', path], { reject: false });
        rmSync(path);
        if (r.exitCode !== 0) throw new Error(`nft -c refused: ${r.stderr}\npolicies: ${JSON.stringify(snapshot.policies)}`);
      }),
      { numRuns: Number(process.env["FUZZ_RUNS"] ?? 60), seed: Number(process.env["FUZZ_SEED"] ?? 20261123) },
    );
    expect(withElements).toBeGreaterThan(10);
  }, 120_000);
});
