import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { createMemoryDatastore, type MemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { BlockStore, type IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import { addressesOfHandle, affinityName, type PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { IpamGarbageCollector } from './controller.js';
import { releaseKeys } from './find-leaks.js';
import { IpamReleaser } from './release.js';

const log = pino({ level: 'silent' });
const POOLS: PoolInfo[] = [{ name: 'default-ipv4-ippool', spec: { cidr: '10.1.0.0/24', blockSize: 28 } }];

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const handleOf = (pod: string) => ipamHandleId('k8s-pod-network', `ctr-${pod}`);

async function allocate(ds: MemoryDatastore, node: string, pod: string, namespace = 'default'): Promise<string> {
  const got = await new BlockStore(ds).autoAssign({
    handleId: handleOf(pod),
    node,
    pools: POOLS,
    num4: 1,
    num6: 0,
    attributes: { node, namespace, pod, timestamp: new Date(0).toISOString() },
  });
  return got.ipv4[0]!;
}

function nodeObject(name: string, mode: 'etcdv3' | 'kubernetes' = 'etcdv3'): StoredObject {
  return mode === 'etcdv3'
    ? { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name }, spec: {} }
    : { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {} };
}

function wepObject(node: string, pod: string, namespace = 'default'): StoredObject {
  return {
    apiVersion: TORTIE_API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name: `${node}-k8s-${pod}-eth0`, namespace },
    spec: { node, pod, containerID: `ctr-${pod}`, endpoint: 'eth0', interfaceName: `tor${pod}`.slice(0, 15), orchestrator: 'k8s' },
  };
}

function podObject(node: string, name: string, ip: string | null, namespace = 'default'): StoredObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { nodeName: node, containers: [] }, ...(ip === null ? {} : { status: { podIP: ip, podIPs: [{ ip }] } }) };
}

async function heldHandles(ds: MemoryDatastore): Promise<string[]> {
  const blocks = (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
  const ids = new Set<string>();
  for (const b of blocks) for (const a of b.spec.attributes) if (a.handle_id && addressesOfHandle(b.spec, a.handle_id).length > 0) ids.add(a.handle_id);
  return [...ids].sort();
}

const running: IpamGarbageCollector[] = [];
afterEach(async () => {
  for (const gc of running.splice(0)) await gc.stop();
});

function startGc(ds: MemoryDatastore, options: { mode?: 'etcdv3' | 'kubernetes'; gracePeriodMs?: number } = {}): IpamGarbageCollector {
  const gc = new IpamGarbageCollector({ datastore: ds, log, gracePeriodMs: 30, resyncIntervalMs: 50, ...options });
  running.push(gc);
  gc.start();
  return gc;
}

describe('IpamGarbageCollector on the memory datastore', () => {
  it('etcd mode: releases the address of a pod with no WorkloadEndpoint, keeps the others', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, nodeObject('n1'));
    const ips = { a: await allocate(ds, 'n1', 'a'), b: await allocate(ds, 'n1', 'b'), c: await allocate(ds, 'n1', 'c') };
    await ds.create(Kinds.WorkloadEndpoint, wepObject('n1', 'a'));
    await ds.create(Kinds.WorkloadEndpoint, wepObject('n1', 'b'));
    const released: string[] = [];
    const gc = new IpamGarbageCollector({ datastore: ds, log, gracePeriodMs: 30, resyncIntervalMs: 50, onRelease: (r, res) => released.push(r.key, ...res.released) });
    running.push(gc);
    gc.start();
    await until(async () => (await ds.get(Kinds.IPAMHandle, handleOf('c'))) === null, 'the leaked handle to go');
    expect(await heldHandles(ds)).toEqual([handleOf('a'), handleOf('b')].sort());
    expect(released).toEqual([releaseKeys.allocation(handleOf('c')), ips.c]);
    // Nothing more goes, however long it runs.
    await new Promise((r) => setTimeout(r, 150));
    expect(await heldHandles(ds)).toEqual([handleOf('a'), handleOf('b')].sort());
  });

  it('kubernetes mode: releases addresses of pods that are gone or report another IP', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.K8sNode, nodeObject('n1', 'kubernetes'));
    const a = await allocate(ds, 'n1', 'a');
    await allocate(ds, 'n1', 'b');
    await allocate(ds, 'n1', 'c');
    await allocate(ds, 'n1', 'd');
    await ds.create(Kinds.K8sPod, podObject('n1', 'a', a));
    await ds.create(Kinds.K8sPod, podObject('n1', 'b', '10.99.0.1'));
    await ds.create(Kinds.K8sPod, podObject('n1', 'd', null)); // ADD in progress: no IP yet
    startGc(ds, { mode: 'kubernetes' });
    await until(async () => (await heldHandles(ds)).length === 2, 'two handles to go');
    expect(await heldHandles(ds)).toEqual([handleOf('a'), handleOf('d')].sort());
  });

  it('an ADD in progress whose endpoint arrives within the grace period keeps its address', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, nodeObject('n1'));
    await allocate(ds, 'n1', 'slow');
    const gc = startGc(ds, { gracePeriodMs: 300 });
    await gc.reconciler.waitForSync();
    await until(() => gc.waiting === 1, 'the leak to be seen once');
    await ds.create(Kinds.WorkloadEndpoint, wepObject('n1', 'slow'));
    await new Promise((r) => setTimeout(r, 500));
    expect(await heldHandles(ds)).toEqual([handleOf('slow')]);
    expect(gc.waiting).toBe(0);
  });

  it('removes what a crash left: a handle naming nothing, a pending affinity with no block', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, nodeObject('n1'));
    await ds.create(Kinds.IPAMHandle, { apiVersion: TORTIE_API_VERSION, kind: 'IPAMHandle', metadata: { name: 'net.crashed' }, spec: { handleID: 'net.crashed', block: { '10.1.0.0/28': 1 }, deleted: false } });
    const pending = affinityName('n1', '10.1.0.16/28');
    await ds.create(Kinds.BlockAffinity, { apiVersion: TORTIE_API_VERSION, kind: 'BlockAffinity', metadata: { name: pending }, spec: { state: 'pending', node: 'n1', cidr: '10.1.0.16/28', deleted: false } });
    startGc(ds);
    await until(async () => (await ds.list(Kinds.IPAMHandle)).items.length === 0 && (await ds.list(Kinds.BlockAffinity)).items.length === 0, 'the leftovers to go');
  });

  it('a gone node: its addresses go, then its empty blocks with their affinities', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, nodeObject('n1'));
    await ds.create(Kinds.Node, nodeObject('n2'));
    await allocate(ds, 'n1', 'a');
    await allocate(ds, 'n2', 'b');
    await ds.create(Kinds.WorkloadEndpoint, wepObject('n2', 'b'));
    startGc(ds);
    await ds.delete(Kinds.Node, 'n1');
    await until(async () => (await ds.list(Kinds.IPAMBlock)).items.length === 1, 'the block of n1 to go');
    expect((await ds.list(Kinds.BlockAffinity)).items.map((a) => (a.spec as { node: string }).node)).toEqual(['n2']);
    expect(await heldHandles(ds)).toEqual([handleOf('b')]);
  });

  it('a release re-reads before writing: a pod back since the sweep keeps its address', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, nodeObject('n1'));
    const ip = await allocate(ds, 'n1', 'back');
    const releaser = new IpamReleaser(ds, 'etcdv3');
    const stale = {
      kind: 'allocation' as const,
      key: releaseKeys.allocation(handleOf('back')),
      handleId: handleOf('back'),
      node: 'n1',
      namespace: 'default',
      pod: 'back',
      addresses: [ip],
      blocks: ['10-1-0-0-28'],
      reason: 'workload-gone' as const,
    };
    await ds.create(Kinds.WorkloadEndpoint, wepObject('n1', 'back'));
    expect(await releaser.apply(stale)).toEqual({ done: false, reason: 'no-longer-leaked' });
    await ds.delete(Kinds.WorkloadEndpoint, 'n1-k8s-back-eth0', 'default');
    expect(await releaser.apply(stale)).toMatchObject({ done: true, released: [ip] });
  });

  it('property: everything leaked is eventually released, nothing live is', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), node: fc.constantFrom('n1', 'n2'), live: fc.boolean() }), { selector: (p) => p.name, maxLength: 7 }),
        fc.boolean(),
        async (pods, n2Exists) => {
          const ds = createMemoryDatastore();
          await ds.create(Kinds.Node, nodeObject('n1'));
          if (n2Exists) await ds.create(Kinds.Node, nodeObject('n2'));
          for (const p of pods) await allocate(ds, p.node, p.name);
          for (const p of pods.filter((x) => x.live)) await ds.create(Kinds.WorkloadEndpoint, wepObject(p.node, p.name));
          const gc = startGc(ds, { gracePeriodMs: 10 });
          // Live: the endpoint exists (etcd mode keeps an endpoint's address even on a gone node: node-cleanup's job).
          const expected = pods.filter((p) => p.live).map((p) => handleOf(p.name)).sort();
          await until(async () => JSON.stringify(await heldHandles(ds)) === JSON.stringify(expected), 'only live handles to remain');
          await until(async () => (await ds.list(Kinds.IPAMHandle)).items.length === expected.length, 'leaked IPAMHandles to go');
          await gc.stop();
          running.splice(running.indexOf(gc), 1);
        },
      ),
      { numRuns: 15 },
    );
  }, 60_000);
});
