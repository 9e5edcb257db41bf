import { describe, expect, it } from 'vitest';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import type { PoolInfo } from '../ipam/allocate.js';
import { BlockStore } from '../ipam/block-store.js';
import { SerializedBlockStore } from './serialized-block-store.js';

const pools: PoolInfo[] = [{ name: 'p', spec: { cidr: '10.250.0.0/24', blockSize: 28 } as PoolInfo['spec'] }];

function assign(store: BlockStore, i: number) {
  return store.autoAssign({ handleId: `net.c${i}`, node: 'node1', pools, num4: 1, num6: 0, attributes: null });
}

describe('SerializedBlockStore', () => {
  it('30 concurrent assignments on one node lose no compare-and-swap and never share an address; release leaves nothing', async () => {
    const ds = createMemoryDatastore();
    let conflicts = 0;
    const store = new SerializedBlockStore(ds, { onConflict: () => void conflicts++ });
    const got = await Promise.all(Array.from({ length: 30 }, (_, i) => assign(store, i)));
    const addresses = got.flatMap((g) => g.ipv4);
    expect(new Set(addresses).size).toBe(30);
    expect(conflicts).toBe(0);
    // /28 blocks: 30 addresses need two blocks, claimed one after the other, never raced.
    expect((await store.listBlocks()).map((b) => b.spec.cidr).sort()).toEqual(['10.250.0.0/28', '10.250.0.16/28']);

    await Promise.all(Array.from({ length: 30 }, (_, i) => store.releaseByHandle(`net.c${i}`)));
    expect(conflicts).toBe(0);
    expect(await store.listHandles()).toEqual([]);
    expect((await store.listBlocks()).every((b) => b.spec.unallocated.length === 16)).toBe(true);
  });

  it('CAS still guards against a writer outside the process', async () => {
    const ds = createMemoryDatastore();
    const agent = new SerializedBlockStore(ds);
    const fallback = new BlockStore(ds);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => assign(i % 2 === 0 ? agent : fallback, i)));
    expect(new Set(got.flatMap((g) => g.ipv4)).size).toBe(20);
  });
});
