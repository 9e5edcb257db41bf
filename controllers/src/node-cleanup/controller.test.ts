import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMemoryDatastore, type MemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { BlockStore, type IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import { addressesOfHandle, newBlock, allocateFromBlock, type PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { NodeCleanupController } from './controller.js';
import { planNodeCleanup } from './plan.js';
import type { NodeCleanupPlan } from './plan.js';

const log = pino({ level: 'silent' });
const POOLS: PoolInfo[] = [{ name: 'p', spec: { cidr: '10.2.0.0/24', blockSize: 28 } }];
const handleOf = (pod: string) => ipamHandleId('k8s-pod-network', `ctr-${pod}`);

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function allocate(ds: MemoryDatastore, node: string, pod: string, strictAffinity = false): Promise<string> {
  const got = await new BlockStore(ds).autoAssign({
    handleId: handleOf(pod),
    node,
    pools: POOLS,
    num4: 1,
    num6: 0,
    strictAffinity,
    attributes: { node, namespace: 'default', pod },
  });
  return got.ipv4[0]!;
}

const wep = (node: string, pod: string): StoredObject => ({
  apiVersion: TORTIE_API_VERSION,
  kind: 'WorkloadEndpoint',
  metadata: { name: `${node}-k8s-${pod}-eth0`, namespace: 'default' },
  spec: { node, pod, containerID: `ctr-${pod}`, interfaceName: 'tor0' },
});
const tortieNode = (name: string): StoredObject => ({ apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name }, spec: {} });
const k8sNode = (name: string): StoredObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {} });

const running: NodeCleanupController[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
});

describe('planNodeCleanup', () => {
  it('keeps a block that holds another node\'s addresses, and the handles of other nodes', () => {
    let mine = newBlock('10.2.0.0/28', 'gone');
    mine = allocateFromBlock(mine, { handleId: 'h-gone', attributes: { node: 'gone' }, count: 1 })!.block;
    let shared = newBlock('10.2.0.16/28', 'gone');
    shared = allocateFromBlock(shared, { handleId: 'h-gone-2', attributes: { node: 'gone' }, count: 1 })!.block;
    shared = allocateFromBlock(shared, { handleId: 'h-other', attributes: { node: 'alive' }, count: 1 })!.block;
    const plan = planNodeCleanup({
      node: 'gone',
      workloadEndpoints: [{ name: 'w', namespace: 'default', resourceVersion: '1' }],
      blocks: [
        { name: '10-2-0-0-28', resourceVersion: '1', spec: mine },
        { name: '10-2-0-16-28', resourceVersion: '1', spec: shared },
      ],
      affinities: [
        { name: 'gone-10-2-0-0-28', resourceVersion: '1', spec: { node: 'gone', cidr: '10.2.0.0/28', state: 'confirmed', deleted: false } },
        { name: 'gone-10-2-0-32-28', resourceVersion: '1', spec: { node: 'gone', cidr: '10.2.0.32/28', state: 'pending', deleted: false } },
      ],
      tortieNode: null,
    });
    expect(plan.handles.map((h) => h.handleId)).toEqual(['h-gone', 'h-gone-2']);
    expect(plan.blocks).toEqual(['10-2-0-0-28']);
    expect(plan.keptBlocks).toEqual(['10-2-0-16-28']);
    expect(plan.affinities.map((a) => a.name)).toEqual(['gone-10-2-0-32-28']);
  });
});

describe('NodeCleanupController on the memory datastore', () => {
  it('etcd mode: a deleted Node loses its endpoints, addresses, empty blocks and affinities; borrowed-from blocks stay', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, tortieNode('n1'));
    await ds.create(Kinds.Node, tortieNode('n2'));
    await allocate(ds, 'n1', 'a');
    await allocate(ds, 'n1', 'b');
    await ds.create(Kinds.WorkloadEndpoint, wep('n1', 'a'));
    await ds.create(Kinds.WorkloadEndpoint, wep('n1', 'b'));
    const kept = await allocate(ds, 'n2', 'c');
    await ds.create(Kinds.WorkloadEndpoint, wep('n2', 'c'));
    const plans: NodeCleanupPlan[] = [];
    const c = new NodeCleanupController({ datastore: ds, log, gracePeriodMs: 20, resyncIntervalMs: 100, onCleanup: (p) => plans.push(p) });
    running.push(c);
    c.start();
    await c.reconciler.waitForSync();
    await new Promise((r) => setTimeout(r, 60));
    expect(plans).toEqual([]); // both nodes exist: nothing to do

    await ds.delete(Kinds.Node, 'n1');
    await until(() => plans.length === 1, 'cleanup of n1');
    expect((await ds.list(Kinds.WorkloadEndpoint)).items.map((w) => w.metadata.name)).toEqual(['n2-k8s-c-eth0']);
    expect((await ds.list(Kinds.IPAMHandle)).items.map((h) => (h.spec as { handleID: string }).handleID)).toEqual([handleOf('c')]);
    const blocks = (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
    expect(blocks.map((b) => b.spec.affinity)).toEqual(['host:n2']);
    expect(addressesOfHandle(blocks[0]!.spec, handleOf('c'))).toEqual([kept]);
    expect((await ds.list(Kinds.BlockAffinity)).items.map((a) => (a.spec as { node: string }).node)).toEqual(['n2']);
  });

  it('a node gone for less than the grace period is left alone', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, tortieNode('n1'));
    await allocate(ds, 'n1', 'a');
    const c = new NodeCleanupController({ datastore: ds, log, gracePeriodMs: 10_000 });
    running.push(c);
    c.start();
    await c.reconciler.waitForSync();
    await ds.delete(Kinds.Node, 'n1');
    await new Promise((r) => setTimeout(r, 100));
    expect((await ds.list(Kinds.IPAMBlock)).items.length).toBe(1);
  });

  it('kubernetes mode: a deleted Kubernetes Node also loses its tortie Node; a block borrowed from keeps its affinity', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.K8sNode, k8sNode('n1'));
    await ds.create(Kinds.K8sNode, k8sNode('n2'));
    await ds.create(Kinds.Node, tortieNode('n1'));
    await ds.create(Kinds.Node, tortieNode('n2'));
    // A pool of one /28: n1 claims it, n2 can only borrow from it.
    const tiny: PoolInfo[] = [{ name: 'tiny', spec: { cidr: '10.3.0.0/28', blockSize: 28 } }];
    const store = new BlockStore(ds);
    for (const [node, pod] of [['n1', 'a'], ['n2', 'borrowed']] as const) {
      await store.autoAssign({ handleId: handleOf(pod), node, pools: tiny, num4: 1, num6: 0, attributes: { node, namespace: 'default', pod } });
    }
    expect((await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.map((b) => b.spec.affinity)).toEqual(['host:n1']);
    const c = new NodeCleanupController({ datastore: ds, log, mode: 'kubernetes', gracePeriodMs: 10, resyncIntervalMs: 50 });
    running.push(c);
    c.start();
    await c.reconciler.waitForSync();
    await ds.delete(Kinds.K8sNode, 'n1');
    await until(async () => (await ds.get(Kinds.Node, 'n1')) === null, 'the tortie Node of n1 to go');
    expect(await ds.get(Kinds.IPAMHandle, handleOf('a'))).toBeNull();
    expect(await ds.get(Kinds.IPAMHandle, handleOf('borrowed'))).not.toBeNull();
    expect(await ds.get(Kinds.Node, 'n2')).not.toBeNull();
    // The block still holds n2's address: it stays, and so does its affinity, until the GC finds it empty.
    expect((await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.map((b) => b.spec.affinity)).toEqual(['host:n1']);
    expect((await ds.list(Kinds.BlockAffinity)).items.map((a) => a.metadata.name)).toEqual(['n1-10-3-0-0-28']);
  });
});
