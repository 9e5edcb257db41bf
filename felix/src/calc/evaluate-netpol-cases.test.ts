import { describe, expect, it } from 'vitest';
import { allPods, caseSnapshots, expectedAllowed, loadNetpolCases, podAddress } from '../conformance/netpol-cases.js';
import { PROTOCOL_NUMBERS } from '../model/policies.js';
import { calculatePolicy } from './calculate-policy.js';
import { evaluateConnection } from './evaluate.js';

// The semantic proof until the real-connection harness lands: every probe of
// every step of every shared NetworkPolicy case, evaluated over the same
// DesiredPolicyState the renderer turns into nft. Self pairs are not judged
// (cases.json `loopback`).
const file = loadNetpolCases();
const pods = allPods(file);

describe('NetworkPolicy conformance cases through evaluateConnection', () => {
  it('finds the cases file and its cases', () => {
    expect(file.cases.length).toBeGreaterThan(40);
    expect(pods).toHaveLength(9);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let judged = 0;
    const mismatches: string[] = [];
    for (const { index, step, snapshot } of caseSnapshots(file, c)) {
      const desired = calculatePolicy(snapshot);
      expect(step.probes.length).toBeGreaterThan(0);
      for (const probe of step.probes) {
        for (const from of pods) {
          for (const to of pods) {
            const expected = expectedAllowed(probe, from, to);
            if (expected === null) continue;
            judged++;
            const result = evaluateConnection(desired, {
              source: podAddress(file, from),
              destination: podAddress(file, to),
              protocol: PROTOCOL_NUMBERS[probe.protocol]!,
              sourcePort: 40000,
              destinationPort: probe.port,
            });
            if ((result.verdict === 'allow') !== expected) {
              mismatches.push(`step ${index} ${probe.port}/${probe.protocol} ${from} -> ${to}: expected ${expected ? 'allow' : 'deny'}, got ${result.verdict} by ${JSON.stringify(result.decidedBy.at(-1))}`);
            }
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(judged).toBeGreaterThan(0);
  });
});
