import { afterEach, describe, expect, it } from 'vitest';
import { Kinds } from '../../lib/datastore/kinds.js';
import { createMemoryDatastore, type MemoryDatastore } from '../../lib/datastore/memory.js';
import { TortieError } from '../../lib/errors.js';
import type { ApplyResult } from './dataplane/nft-table.js';
import { FelixLoop, type DataplaneTable } from './loop.js';
import type { NftObject } from './render/nft-json.js';

const TORTIE = 'crd.tortie.dev/v1';

/** A table that records what it was asked to apply; fails while `failing` > 0. */
class RecordingTable implements DataplaneTable {
  applied: (readonly NftObject[])[] = [];
  desired: readonly NftObject[] = [];
  failing = 0;
  fatalAfter = Infinity;
  failures = 0;
  setDesired(objects: readonly NftObject[]): void {
    this.desired = objects;
  }
  async apply(): Promise<ApplyResult> {
    if (this.failing > 0) {
      this.failing--;
      this.failures++;
      throw new TortieError('ERR_NFT_APPLY', 'rejected', { details: { fatal: this.failures >= this.fatalAfter } });
    }
    this.failures = 0;
    this.applied.push(this.desired);
    return { kind: 'incremental', commands: 1, summary: { chains: 0, deletedChains: 0, sets: 0, deletedSets: 0, elementsAdded: 0, elementsDeleted: 0 } };
  }
  retryDelayMs(): number {
    return this.failures === 0 ? 0 : 5;
  }
  resyncs = 0;
  resync(): void {
    this.resyncs++;
  }
  get ready(): boolean {
    return this.applied.length > 0 && this.failures === 0;
  }
  /** Names of the policy chains in the last applied ruleset. */
  policyChains(): string[] {
    return (this.applied.at(-1) ?? []).flatMap((o) => ('chain' in o && o.chain.name.startsWith('p') ? [o.chain.name] : []));
  }
  /** Comments of the Kubernetes stage rules (one lookup per endpoint and direction, not a chain per policy) in the last applied ruleset. */
  kubernetesStageRules(): string[] {
    return (this.applied.at(-1) ?? []).flatMap((o) => ('rule' in o && o.rule.comment?.startsWith('kubernetes ') ? [o.rule.comment] : []));
  }
}

const wep = (name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: TORTIE,
  kind: 'WorkloadEndpoint',
  metadata: { name: `node1-k8s-${name}-eth0`, namespace: 'x', labels: { ...labels, 'projectcalico.org/namespace': 'x' } },
  spec: { node: 'node1', pod: name, interfaceName: `tor${name}`, ipNetworks: [`${ip}/32`] },
});
const denyIngress = (name: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'x' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
});

describe('FelixLoop', () => {
  let ds: MemoryDatastore;
  let loop: FelixLoop | undefined;
  afterEach(async () => {
    await loop?.stop();
  });

  it('writes nothing before every watch is synced, then applies the whole state once', async () => {
    ds = createMemoryDatastore();
    await ds.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    await ds.create(Kinds.WorkloadEndpoint, wep('a', '10.0.1.1'));
    await ds.create(Kinds.K8sNetworkPolicy, denyIngress('deny'));
    const table = new RecordingTable();
    loop = new FelixLoop({ datastore: ds, nodeName: 'node1', table, coalesceMs: 5 });
    expect(loop.synced).toBe(false);
    loop.start();
    await loop.whenIdle();
    expect(loop.synced).toBe(true);
    expect(table.applied).toHaveLength(1);
    expect(table.kubernetesStageRules()).toEqual(['kubernetes ingress drop x/a']);
    expect(loop.ready).toBe(true);
  });

  it('coalesces a burst of changes into few applies and follows deletes', async () => {
    ds = createMemoryDatastore();
    const table = new RecordingTable();
    loop = new FelixLoop({ datastore: ds, nodeName: 'node1', table, coalesceMs: 30 });
    loop.start();
    await loop.whenIdle();
    const before = table.applied.length;
    await ds.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    await ds.create(Kinds.WorkloadEndpoint, wep('a', '10.0.1.1'));
    for (let i = 0; i < 10; i++) await ds.create(Kinds.K8sNetworkPolicy, denyIngress(`p${i}`));
    await new Promise((r) => setTimeout(r, 10));
    await loop.whenIdle();
    expect(table.applied.length - before).toBeLessThanOrEqual(3);
    expect(table.kubernetesStageRules()).toEqual(['kubernetes ingress drop x/a']);
    for (let i = 0; i < 10; i++) await ds.delete(Kinds.K8sNetworkPolicy, `p${i}`, 'x');
    await new Promise((r) => setTimeout(r, 40));
    await loop.whenIdle();
    expect(table.kubernetesStageRules()).toEqual([]);
  });

  it('treats an object the schema refuses as absent', async () => {
    ds = createMemoryDatastore();
    await ds.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    await ds.create(Kinds.WorkloadEndpoint, wep('a', '10.0.1.1'));
    // An unknown action: the schema refuses it, so it never reaches the dataplane.
    await ds.create(Kinds.GlobalNetworkPolicy, { apiVersion: TORTIE, kind: 'GlobalNetworkPolicy', metadata: { name: 'bad' }, spec: { selector: 'all()', ingress: [{ action: 'Explode' }] } });
    const warnings: unknown[] = [];
    const log = { warn: (o: unknown) => warnings.push(o), info: () => undefined, debug: () => undefined, error: () => undefined } as never;
    const table = new RecordingTable();
    loop = new FelixLoop({ datastore: ds, nodeName: 'node1', table, coalesceMs: 5, log });
    loop.start();
    await loop.whenIdle();
    expect(table.policyChains().some((c) => c.includes('bad'))).toBe(false);
    expect(JSON.stringify(warnings)).toContain('spec.ingress[0].action');
  });

  it('retries a failed apply, and calls onFatal when the table gives up', async () => {
    ds = createMemoryDatastore();
    const table = new RecordingTable();
    table.failing = 2;
    loop = new FelixLoop({ datastore: ds, nodeName: 'node1', table, coalesceMs: 5 });
    loop.start();
    await loop.whenIdle();
    expect(table.applied).toHaveLength(1);
    expect(loop.ready).toBe(true);
    await loop.stop();

    const doomed = new RecordingTable();
    doomed.failing = 100;
    doomed.fatalAfter = 3;
    let fatal: unknown = null;
    loop = new FelixLoop({ datastore: createMemoryDatastore(), nodeName: 'node1', table: doomed, coalesceMs: 5, onFatal: (e) => (fatal = e) });
    loop.start();
    await loop.whenIdle();
    expect((fatal as TortieError).code).toBe('ERR_NFT_APPLY');
    expect(doomed.failures).toBe(3);
    expect(loop.live).toBe(false);
  });
});

describe('FelixLoop refresh', () => {
  it('re-applies periodically with no change, so drift in the kernel is repaired', async () => {
    const table = new RecordingTable();
    const loop = new FelixLoop({ datastore: createMemoryDatastore(), nodeName: 'node1', table, coalesceMs: 1, refreshMs: 15 });
    loop.start();
    await loop.whenIdle();
    const first = table.applied.length;
    await new Promise((r) => setTimeout(r, 80));
    await loop.stop();
    expect(table.applied.length).toBeGreaterThan(first + 1);
    expect(table.resyncs).toBeGreaterThan(1);
  });
});

describe('FelixLoop endpoint status', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  it('reports the programmed workloads only after a successful apply, and retries a failed report', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    await ds.create(Kinds.WorkloadEndpoint, wep('a', '10.0.1.1'));
    const table = new RecordingTable();
    table.failing = 1;
    const reports: { applied: number; interfaces: string[] }[] = [];
    let statusFailures = 1;
    const endpointStatus = {
      reconcile: async (workloads: readonly { interfaceName: string }[]) => {
        if (statusFailures-- > 0) throw new Error('disk full');
        reports.push({ applied: table.applied.length, interfaces: workloads.map((w) => w.interfaceName) });
      },
    };
    const loop = new FelixLoop({ datastore: ds, nodeName: 'node1', table, coalesceMs: 5, endpointStatus, statusRetryMs: 5 });
    stops.push(() => loop.stop());
    loop.start();
    await loop.whenIdle();
    // The failed apply reported nothing; the report after the good one failed and was retried.
    expect(reports).toEqual([{ applied: table.applied.length, interfaces: ['tora'] }]);
    expect(reports[0]!.applied).toBeGreaterThan(0);
    await ds.delete(Kinds.WorkloadEndpoint, 'node1-k8s-a-eth0', 'x');
    await new Promise((r) => setTimeout(r, 20));
    await loop.whenIdle();
    expect(reports.at(-1)).toEqual({ applied: table.applied.length, interfaces: [] });
  });
});
