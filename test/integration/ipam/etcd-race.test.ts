import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockStore, type BlockAffinityObject, type IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import { addressesOfHandle, type PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { ipamHandleId } from '../../../lib/contract.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';

// DESIGN.md "IPAM": three nodes share one real etcd and each runs 20 ADDs'
// worth of autoAssign at once. Each node has its own etcd client, as its own
// plugin processes would. No root needed; skipped without etcd-server.
const NODES = ['node-a', 'node-b', 'node-c'];
const PER_NODE = 20;
// /28 blocks (16 addresses): 20 pods need two blocks per node, so nodes race
// to claim blocks while their own pods race on each block.
const POOLS: PoolInfo[] = [
  { name: 'default-ipv4-ippool', spec: { cidr: '10.77.0.0/24', blockSize: 28 } },
  { name: 'default-ipv6-ippool', spec: { cidr: 'fd00:77::/120', blockSize: 124 } },
];

describe.skipIf(!existsSync(ETCD_BINARY))('IPAM on a shared etcd: 3 nodes × 20 concurrent assignments', () => {
  let etcd: EtcdInstance;
  const clients: EtcdDatastore[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    for (const _ of NODES) clients.push(createEtcdDatastore({ endpoints: [etcd.endpoint] }));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await etcd?.stop();
  });

  it('hands out no address twice, claims no block twice, and releases everything', async () => {
    const stores = clients.map((c) => new BlockStore(c));
    const jobs = NODES.flatMap((node, n) =>
      Array.from({ length: PER_NODE }, (_, i) => {
        const handleId = ipamHandleId('k8s-pod-network', `${node}-container-${i}`);
        return stores[n]!
          .autoAssign({ handleId, node, pools: POOLS, num4: 1, num6: 1, attributes: { node, namespace: 'default', pod: `pod-${i}`, timestamp: new Date().toISOString() } })
          .then((got) => ({ node, handleId, got }));
      }),
    );
    const started = Date.now();
    const results = await Promise.all(jobs);
    const elapsedMs = Date.now() - started;

    // Every call got one of each family, and no address is given twice.
    const all = results.flatMap((r) => [...r.got.ipv4, ...r.got.ipv6]);
    expect(results.every((r) => r.got.ipv4.length === 1 && r.got.ipv6.length === 1)).toBe(true);
    expect(new Set(all).size).toBe(NODES.length * PER_NODE * 2);

    // The stored blocks agree: each address is held once, by the handle that was told it.
    const reader = clients[0]!;
    const blocks = (await reader.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
    for (const r of results) {
      for (const address of [...r.got.ipv4, ...r.got.ipv6]) {
        const holders = blocks.filter((b) => addressesOfHandle(b.spec, r.handleId).includes(address));
        expect(holders.length).toBe(1);
      }
    }

    // No block claimed twice: one confirmed affinity per block, naming the block's node.
    const affinities = (await reader.list<BlockAffinityObject>(Kinds.BlockAffinity)).items;
    for (const b of blocks) {
      const owners = affinities.filter((a) => a.spec.cidr === b.spec.cidr);
      expect(owners.map((a) => `host:${a.spec.node}`)).toEqual([b.spec.affinity]);
      expect(owners[0]!.spec.state).toBe('confirmed');
    }
    expect(affinities.length).toBe(blocks.length);
    // Each node claimed its own blocks (2 per family at least, given 20 pods and 16 per block).
    for (const node of NODES) expect(blocks.filter((b) => b.spec.affinity === `host:${node}`).length).toBeGreaterThanOrEqual(4);

    // Release everything, all at once from every node.
    const released = await Promise.all(results.map((r, i) => stores[i % stores.length]!.releaseByHandle(r.handleId)));
    expect(released.flat().sort()).toEqual(all.slice().sort());
    for (const b of (await reader.list<IpamBlockObject>(Kinds.IPAMBlock)).items) {
      expect(b.spec.allocations.every((a) => a === null)).toBe(true);
      expect(b.spec.attributes).toEqual([]);
    }
    expect((await reader.list(Kinds.IPAMHandle)).items).toEqual([]);
    console.info(`IPAM race: ${results.length} autoAssigns (1 IPv4 + 1 IPv6 each) on ${NODES.length} nodes in ${elapsedMs} ms`);
  });
});
