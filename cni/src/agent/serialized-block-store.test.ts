import { describe, expect, it } from 'vitest';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { addressesOfHandle, type PoolInfo } from '../ipam/allocate.js';
import type { Datastore } from '../../../lib/datastore/types.js';
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

  it('ADDs queued meanwhile share one block CAS; each gets its own address, held by its own handle', async () => {
    const inner = createMemoryDatastore();
    let conflicts = 0;
    await new BlockStore(inner).autoAssign({ handleId: 'net.first', node: 'node1', pools, num4: 1, num6: 0, attributes: null });
    let blockWrites = 0;
    const counted: Datastore = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (prop !== 'update') return (value as (...a: unknown[]) => unknown).bind(target);
        return (kind: { kind: string }, object: unknown) => {
          if (kind.kind === 'IPAMBlock') blockWrites++;
          return inner.update(kind as never, object as never);
        };
      },
    });
    const store = new SerializedBlockStore(counted, { onConflict: () => void conflicts++ });
    // The /28 has 15 free: 20 at once are 15 together and 5 one by one (a second block).
    const again = { handleId: 'net.first', node: 'node1', pools, num4: 1, num6: 0, attributes: null };
    const dual = { handleId: 'net.dual', node: 'node1', pools: [...pools, { name: 'p6', spec: { cidr: 'fd00:250::/120', blockSize: 124 } as PoolInfo['spec'] }], num4: 1, num6: 1, attributes: null };
    const [first, dualGot, ...got] = await Promise.all([store.autoAssign(again), store.autoAssign(dual), ...Array.from({ length: 20 }, (_, i) => assign(store, i))]);
    expect(first.ipv4).toEqual(['10.250.0.0']);
    expect(dualGot.ipv6).toHaveLength(1);
    const addresses = [...got.flatMap((g) => g.ipv4), ...first.ipv4, ...dualGot.ipv4];
    expect(new Set(addresses).size).toBe(22);
    expect(conflicts).toBe(0);
    const blocks = await store.listBlocks();
    got.forEach((g, i) => {
      const holders = blocks.filter((b) => addressesOfHandle(b.spec, `net.c${i}`).includes(g.ipv4[0]!));
      expect(holders).toHaveLength(1);
    });
    // One by one, the 21 new assignments would be 21 block CAS (and dual's IPv6 one more): together, 15 of them are one.
    expect(blockWrites).toBeLessThanOrEqual(22 - 14);
    await Promise.all([...Array.from({ length: 20 }, (_, i) => store.releaseByHandle(`net.c${i}`)), store.releaseByHandle('net.first'), store.releaseByHandle('net.dual')]);
    expect(await store.listHandles()).toEqual([]);
    expect((await store.listBlocks()).every((b) => b.spec.allocations.every((a) => a === null))).toBe(true);
  });

  it('a batch whose CAS loses to a writer outside the process retries and still gives each its own address', async () => {
    const ds = createMemoryDatastore();
    const agent = new SerializedBlockStore(ds, { retryJitterMs: 0 });
    const fallback = new BlockStore(ds, { retryJitterMs: 0 });
    await fallback.autoAssign({ handleId: 'net.seed', node: 'node1', pools, num4: 1, num6: 0, attributes: null });
    const got = await Promise.all(Array.from({ length: 24 }, (_, i) => assign(i % 3 === 0 ? fallback : agent, i)));
    expect(new Set(got.flatMap((g) => g.ipv4)).size).toBe(24);
    const blocks = await agent.listBlocks();
    got.forEach((g, i) => expect(blocks.filter((b) => addressesOfHandle(b.spec, `net.c${i}`).includes(g.ipv4[0]!))).toHaveLength(1));
  });
});
