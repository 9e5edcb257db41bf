import { describe, expect, it } from 'vitest';
import { allPods, caseSnapshots, expectedAllowed, loadNetpolCases } from '../conformance/netpol-cases.js';
import { explainConnection } from './explain.js';

// Issue 5: "tortie policy explain answers correctly for the conformance cases".
// The same probes as evaluate-netpol-cases, asked the way the CLI asks:
// by namespace/pod and PORT/PROTOCOL, from the cluster-wide snapshot.
const file = loadNetpolCases();
const pods = allPods(file);

describe('explainConnection on the NetworkPolicy conformance cases', () => {
  it('finds the cases', () => {
    expect(file.cases.length).toBeGreaterThan(40);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const mismatches: string[] = [];
    let judged = 0;
    for (const { index, step, snapshot } of caseSnapshots(file, c)) {
      for (const probe of step.probes) {
        for (const from of pods) {
          for (const to of pods) {
            const expected = expectedAllowed(probe, from, to);
            if (expected === null) continue;
            judged++;
            const r = explainConnection(snapshot, from, to, `${probe.port}/${probe.protocol}`);
            if (!r.ok) mismatches.push(`step ${index}: ${r.error}`);
            else if ((r.evaluation.verdict === 'allow') !== expected) mismatches.push(`step ${index} ${probe.port}/${probe.protocol} ${from} -> ${to}: got ${r.evaluation.verdict}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(judged).toBeGreaterThan(0);
  });
});
