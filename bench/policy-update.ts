/**
 * The in-process cost of one policy update (issue 5): the population of
 * bench/policy.ts held in a PolicyStore, one PolicyCalculator and RenderMemo
 * kept as the agent's loop keeps them, then per sample one Kubernetes
 * NetworkPolicy added (timed: calculate, render), and removed again (not timed).
 * No etcd, no kernel, no root.
 *
 *     npx tsx bench/policy-update.ts [--policies 1000,5000] [--endpoints 1000] [--local 100] [--samples 10]
 */
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { PolicyCalculator } from '../felix/src/calc/calculate-policy.js';
import { applyResources } from '../felix/src/calc/snapshot-from-resources.js';
import { PolicyStore } from '../felix/src/calc/snapshot.js';
import { RenderMemo, renderRuleset } from '../felix/src/render/ruleset.js';
import { Kinds } from '../lib/datastore/kinds.js';
import { endpointObject, NAMESPACES, namespaceObject, NODE, policyObject } from './policy-population.js';

const program = new Command()
  .option('--policies <list>', 'policy counts', '1000,5000')
  .option('--endpoints <list>', 'endpoint counts', '1000')
  .option('--local <n>', 'endpoints on our node', '100')
  .option('--samples <n>', 'updates per population', '10')
  .parse();
const opts = program.opts<{ policies: string; endpoints: string; local: string; samples: string }>();
const LOCAL = Number(opts.local);
const SAMPLES = Number(opts.samples);

const ms = (t: number) => Math.round(t * 10) / 10;
const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const median = (values: readonly number[]) => sorted(values)[Math.floor(values.length / 2)]!;

const rows: string[] = ['| policies | endpoints | samples | calculate best | calculate median | render best | render median | first calculation |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
for (const policies of opts.policies.split(',').map(Number)) {
  for (const endpoints of opts.endpoints.split(',').map(Number)) {
    const store = new PolicyStore(NODE);
    applyResources(store, 'etcdv3', [
      { kind: Kinds.K8sNamespace, items: Array.from({ length: NAMESPACES }, (_, i) => namespaceObject(i)) },
      { kind: Kinds.WorkloadEndpoint, items: Array.from({ length: endpoints }, (_, j) => endpointObject(j, LOCAL)) },
      { kind: Kinds.K8sNetworkPolicy, items: Array.from({ length: policies }, (_, k) => policyObject(k)) },
    ]);
    const calculator = new PolicyCalculator();
    const memo = new RenderMemo();
    const t0 = performance.now();
    renderRuleset(calculator.calculate(store.snapshot()), memo);
    const firstMs = performance.now() - t0;
    const calc: number[] = [];
    const render: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // Selects app-0 in bench-0, which has a local pod (pod-0), as bench/policy.ts part (a) does.
      applyResources(store, 'etcdv3', [{ kind: Kinds.K8sNetworkPolicy, items: [policyObject(0, 'bench-0', `probe-${i}`)] }]);
      const a = performance.now();
      const desired = calculator.calculate(store.snapshot());
      const b = performance.now();
      renderRuleset(desired, memo);
      const c = performance.now();
      calc.push(b - a);
      render.push(c - b);
      const probe = store.snapshot().policies.find((p) => p.id.endsWith(`/probe-${i}`));
      if (probe === undefined) throw new Error(`probe-${i} was not stored`);
      store.apply({ kind: 'policy', key: probe.id, value: null });
      renderRuleset(calculator.calculate(store.snapshot()), memo);
    }
    console.error(`${policies} policies / ${endpoints} endpoints: calculate ${calc.map(ms).join(' ')} ms; render ${render.map(ms).join(' ')} ms`);
    rows.push(`| ${policies} | ${endpoints} (${LOCAL} local) | ${SAMPLES} | ${ms(sorted(calc)[0]!)} | ${ms(median(calc))} | ${ms(sorted(render)[0]!)} | ${ms(median(render))} | ${ms(firstMs)} |`);
  }
}
console.log(rows.join('\n'));
