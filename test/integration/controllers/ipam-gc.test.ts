import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BlockStore, type IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import { addressesOfHandle, type PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { IpamGarbageCollector } from '../../../controllers/src/ipam-gc/controller.js';
import { NodeCleanupController } from '../../../controllers/src/node-cleanup/controller.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';

// controllers/DESIGN.md: the GC and node cleanup against a real etcd. No root
// needed; skipped without etcd-server.
const POOLS: PoolInfo[] = [{ name: 'default-ipv4-ippool', spec: { cidr: '10.88.0.0/24', blockSize: 28 } }];
const GRACE_MS = 1_000;
const log = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
const handleOf = (pod: string) => ipamHandleId('k8s-pod-network', `ctr-${pod}`);

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const node = (name: string): StoredObject => ({ apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name }, spec: {} });
const wep = (nodeName: string, pod: string): StoredObject => ({
  apiVersion: TORTIE_API_VERSION,
  kind: 'WorkloadEndpoint',
  metadata: { name: `${nodeName}-k8s-${pod}-eth0`, namespace: 'default' },
  spec: { orchestrator: 'k8s', node: nodeName, pod, containerID: `ctr-${pod}`, endpoint: 'eth0', interfaceName: `tor-${pod}` },
});

describe.skipIf(!existsSync(ETCD_BINARY))('kube-controllers on a real etcd', () => {
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let gc: IpamGarbageCollector;
  let cleanup: NodeCleanupController;
  const ips = new Map<string, string>();

  async function allocate(nodeName: string, pod: string): Promise<void> {
    const got = await new BlockStore(ds).autoAssign({
      handleId: handleOf(pod),
      node: nodeName,
      pools: POOLS,
      num4: 1,
      num6: 0,
      attributes: { node: nodeName, namespace: 'default', pod, timestamp: new Date().toISOString() },
    });
    ips.set(pod, got.ipv4[0]!);
  }

  async function holders(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const b of (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items) {
      for (const a of b.spec.attributes) {
        if (a.handle_id) out.set(a.handle_id, [...(out.get(a.handle_id) ?? []), ...addressesOfHandle(b.spec, a.handle_id)]);
      }
    }
    for (const [k, v] of out) if (v.length === 0) out.delete(k);
    return out;
  }

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    await gc?.stop();
    await cleanup?.stop();
    await ds?.close();
    await etcd?.stop();
  });

  it('releases the address of the one pod with no WorkloadEndpoint, after the grace period, and only that', async () => {
    await ds.create(Kinds.Node, node('n1'));
    await ds.create(Kinds.Node, node('n2'));
    for (const pod of ['a', 'b', 'c']) await allocate('n1', pod);
    await ds.create(Kinds.WorkloadEndpoint, wep('n1', 'a'));
    await ds.create(Kinds.WorkloadEndpoint, wep('n1', 'b'));

    gc = new IpamGarbageCollector({ datastore: ds, log, gracePeriodMs: GRACE_MS, resyncIntervalMs: 500 });
    const started = Date.now();
    gc.start();
    await gc.reconciler.waitForSync();
    // Seen, but inside its grace period: still held.
    await until(async () => gc.waiting === 1, 'the leak to be seen');
    expect((await holders()).has(handleOf('c'))).toBe(true);

    await until(async () => !(await holders()).has(handleOf('c')), 'the leaked address to be released');
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS);
    expect(await ds.get(Kinds.IPAMHandle, handleOf('c'))).toBeNull();
    const held = await holders();
    expect([...held.keys()].sort()).toEqual([handleOf('a'), handleOf('b')].sort());
    expect(held.get(handleOf('a'))).toEqual([ips.get('a')]);
    expect(held.get(handleOf('b'))).toEqual([ips.get('b')]);
  });

  it('a deleted node loses its endpoints, addresses, blocks and affinities once they are empty; the other node keeps its own', async () => {
    for (const pod of ['x', 'y']) {
      await allocate('n2', pod);
      await ds.create(Kinds.WorkloadEndpoint, wep('n2', pod));
    }
    const n2Blocks = (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.filter((b) => b.spec.affinity === 'host:n2');
    expect(n2Blocks.length).toBe(1);

    cleanup = new NodeCleanupController({ datastore: ds, log, gracePeriodMs: 300, resyncIntervalMs: 500 });
    cleanup.start();
    await cleanup.reconciler.waitForSync();
    await ds.delete(Kinds.Node, 'n2');

    await until(async () => (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.every((b) => b.spec.affinity !== 'host:n2'), 'the block of n2 to go');
    await until(async () => (await ds.list(Kinds.BlockAffinity)).items.every((a) => (a.spec as { node: string }).node !== 'n2'), 'the affinity of n2 to go');
    expect((await ds.list(Kinds.WorkloadEndpoint)).items.map((w) => w.metadata.name).sort()).toEqual(['n1-k8s-a-eth0', 'n1-k8s-b-eth0']);
    expect([...(await holders()).keys()].sort()).toEqual([handleOf('a'), handleOf('b')].sort());
    expect((await ds.list(Kinds.IPAMHandle)).items.map((h) => (h.spec as { handleID: string }).handleID).sort()).toEqual([handleOf('a'), handleOf('b')].sort());
    expect((await ds.list(Kinds.BlockAffinity)).items.map((a) => a.metadata.name)).toEqual(['n1-10-88-0-0-28']);
  });
});
