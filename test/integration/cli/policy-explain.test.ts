import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseStepResources, syncResources } from '../../../cli/src/commands/policy-netpol-cases.test-helpers.js';
import type { Explanation } from '../../../cli/src/commands/policy-explain.js';
import { allPods, caseSnapshots, expectedAllowed, loadNetpolCases } from '../../../felix/src/conformance/netpol-cases.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { type EtcdInstance, startEtcd } from '../../harness/etcd.js';

/**
 * `tortie policy explain` as a user runs it: the CLI as a child process
 * (from source through tsx) against a real etcd holding a conformance case's
 * objects (Namespaces, WorkloadEndpoints, NetworkPolicies), written step by
 * step. Every judged probe of every case is checked through the command
 * function in cli/src/commands/policy-explain.test.ts (memory datastore);
 * here a handful of cases, one allowed and one denied pair per probe of each
 * step, through the real process (each run costs a Node start).
 */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CASES = ['e2e-17', 'e2e-21', 'e2e-27', 'e2e-33', 'ext-15'];

let etcd: EtcdInstance;
let datastore: EtcdDatastore;

async function tortie(args: string[]) {
  const r = await execa('node', ['--import', 'tsx', 'cli/src/main.ts', ...args], {
    cwd: repo,
    env: { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoint },
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    timeout: 60_000,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('tortie policy explain against a real etcd', () => {
  const file = loadNetpolCases();
  const pods = allPods(file);

  beforeAll(async () => {
    etcd = await startEtcd();
    datastore = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  }, 30_000);

  afterAll(async () => {
    await datastore?.close();
    await etcd?.stop();
  });

  it('finds the chosen cases', () => {
    expect(CASES.map((id) => file.cases.find((c) => c.id === id)?.id)).toEqual(CASES);
  });

  it.each(CASES)('answers case %s as its probes expect, step by step', async (id) => {
    const c = file.cases.find((x) => x.id === id)!;
    let judged = 0;
    for (const { index, step, snapshot, rawPolicies } of caseSnapshots(file, c)) {
      await syncResources(datastore, caseStepResources(snapshot, rawPolicies));
      for (const probe of step.probes) {
        const pairs = pods.flatMap((from) => pods.map((to) => ({ from, to, expected: expectedAllowed(probe, from, to) })));
        for (const wanted of [true, false]) {
          const pair = pairs.find((p) => p.expected === wanted);
          if (pair === undefined) continue;
          const r = await tortie(['policy', 'explain', '--from', pair.from, '--to', pair.to, '--port', `${probe.port}/${probe.protocol}`, '-o', 'json']);
          expect(r.stderr, `step ${index}`).toBe('');
          expect(r.code).toBe(0);
          const x = JSON.parse(r.stdout) as Explanation;
          expect({ step: index, from: pair.from, to: pair.to, port: probe.port, verdict: x.verdict }).toEqual({
            step: index,
            from: pair.from,
            to: pair.to,
            port: probe.port,
            verdict: wanted ? 'allow' : 'deny',
          });
          judged++;
        }
      }
    }
    expect(judged).toBeGreaterThan(0);
  }, 180_000);

  it('prints the readable layout by default', async () => {
    const r = await tortie(['policy', 'explain', '--from', 'x/a', '--to', 'y/b', '--port', '80']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Connection: x\/a \(10\.0\.1\.1\) -> y\/b \(10\.0\.2\.2\) port 80\/TCP\n/);
    expect(r.stdout).toMatch(/\nVerdict: (ALLOW|DENY)\n/);
  }, 60_000);

  it('exits 3 for a pod that is not found, and 1 for a bad port, naming them', async () => {
    const missing = await tortie(['policy', 'explain', '--from', 'x/a', '--to', 'y/zz', '--port', '80/TCP']);
    expect(missing).toEqual({ code: 3, stdout: '', stderr: '--to: pod y/zz not found\n' });
    const bad = await tortie(['policy', 'explain', '--from', 'x/a', '--to', 'y/b', '--port', 'http']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--port "http"');
  }, 60_000);
});
