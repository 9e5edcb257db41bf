import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { hasErrorCode } from '../../../lib/errors.js';
import type { PoolInfo } from './allocate.js';
import { validateAs } from '../../../crds/src/validate.js';
import { countingRoundTrips } from '../testdata/round-trips.js';
import { type BlockAffinityObject, BlockStore, type IpamBlockObject, type IpamHandleObject } from './block-store.js';

const pool = (name: string, cidr: string, spec: Partial<PoolInfo['spec']> = {}): PoolInfo => ({ name, spec: { cidr, ...spec } });
const attrs = (pod: string) => ({ node: 'n', namespace: 'default', pod, timestamp: '2026-01-01T00:00:00Z' });

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((err: unknown) => hasErrorCode(err, code as never));
}

describe('BlockStore', () => {
  it('claims a block for the node (affinity confirmed) and records the address under the handle', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const r = await store.autoAssign({ handleId: 'k8s-pod-network.abc', node: 'n1', pools: [pool('p', '10.244.0.0/24')], num4: 1, num6: 0, attributes: attrs('a') });
    expect(r).toEqual({ ipv4: ['10.244.0.0'], ipv6: [] });
    const block = await ds.get<IpamBlockObject>(Kinds.IPAMBlock, '10-244-0-0-26');
    expect(block?.spec.affinity).toBe('host:n1');
    const affinity = await ds.get<BlockAffinityObject>(Kinds.BlockAffinity, 'n1-10-244-0-0-26');
    expect(affinity?.spec).toEqual({ state: 'confirmed', node: 'n1', cidr: '10.244.0.0/26', deleted: false });
    const handle = await ds.get<IpamHandleObject>(Kinds.IPAMHandle, 'k8s-pod-network.abc');
    expect(handle?.spec).toEqual({ handleID: 'k8s-pod-network.abc', block: { '10.244.0.0/26': 1 }, deleted: false });
  });

  it('the same handle asked twice gets the same addresses and writes nothing', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const req = { handleId: 'net.c1', node: 'n1', pools: [pool('p4', '10.0.0.0/24'), pool('p6', 'fd00::/64')], num4: 1, num6: 1, attributes: null };
    const first = await store.autoAssign(req);
    const revision = ds.revision;
    expect(await store.autoAssign(req)).toEqual(first);
    expect(ds.revision).toBe(revision);
    expect(first.ipv6).toEqual(['fd00::']);
  });

  it('releaseByHandle frees exactly what was taken, deletes the handle, and is idempotent', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/24')];
    const a = await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 2, num6: 0, attributes: null });
    const b = await store.autoAssign({ handleId: 'net.b', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    expect((await store.releaseByHandle('net.a')).sort()).toEqual(a.ipv4.sort());
    expect(await store.releaseByHandle('net.a')).toEqual([]);
    expect(await store.getHandle('net.a')).toBeNull();
    expect(await store.addressesOfHandle('net.b')).toEqual(b);
  });

  it('claims another block when its blocks are full, up to maxBlocksPerHost', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/28', { blockSize: 30 })];
    const r = await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 6, num6: 0, attributes: null });
    expect(r.ipv4).toEqual(['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
    await expectCode(store.autoAssign({ handleId: 'net.b', node: 'n1', pools, num4: 3, num6: 0, attributes: null, maxBlocksPerHost: 2 }), 'ERR_IPAM_EXHAUSTED');
  });

  it('uses its own blocks in address order, whatever their names sort as', async () => {
    const store = new BlockStore(createMemoryDatastore(), { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/24')];
    await store.assignIp({ handleId: 'net.x', node: 'n1', address: '10.0.0.130', pools, attributes: null });
    await store.assignIp({ handleId: 'net.y', node: 'n1', address: '10.0.0.70', pools, attributes: null });
    // Block names sort "10-0-0-128-26" before "10-0-0-64-26"; addresses do not.
    expect((await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 1, num6: 0, attributes: null })).ipv4).toEqual(['10.0.0.64']);
  });

  it('borrows from another node only when affinity is not strict', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/30', { blockSize: 30 })];
    await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    await expectCode(store.autoAssign({ handleId: 'net.b', node: 'n2', pools, num4: 1, num6: 0, attributes: null, strictAffinity: true }), 'ERR_IPAM_EXHAUSTED');
    const r = await store.autoAssign({ handleId: 'net.c', node: 'n2', pools, num4: 1, num6: 0, attributes: null });
    expect(r.ipv4).toEqual(['10.0.0.1']);
    // The block stays n1's.
    expect((await ds.get<IpamBlockObject>(Kinds.IPAMBlock, '10-0-0-0-30'))?.spec.affinity).toBe('host:n1');
  });

  it('an exhausted pool is ERR_IPAM_EXHAUSTED, and no pool for a family says so', async () => {
    const store = new BlockStore(createMemoryDatastore(), { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/31', { blockSize: 31 })];
    await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 2, num6: 0, attributes: null });
    await expectCode(store.autoAssign({ handleId: 'net.b', node: 'n1', pools, num4: 1, num6: 0, attributes: null }), 'ERR_IPAM_EXHAUSTED');
    await expectCode(store.autoAssign({ handleId: 'net.c', node: 'n1', pools, num4: 0, num6: 1, attributes: null }), 'ERR_IPAM_EXHAUSTED');
  });

  it('assignIp takes a given address once; another handle gets ERR_IPAM_ADDRESS_IN_USE', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/24')];
    await store.assignIp({ handleId: 'net.a', node: 'n1', address: '10.0.0.77', pools, attributes: null });
    await store.assignIp({ handleId: 'net.a', node: 'n1', address: '10.0.0.77', pools, attributes: null });
    expect(await store.addressesOfHandle('net.a')).toEqual({ ipv4: ['10.0.0.77'], ipv6: [] });
    await expectCode(store.assignIp({ handleId: 'net.b', node: 'n2', address: '10.0.0.77', pools, attributes: null }), 'ERR_IPAM_ADDRESS_IN_USE');
    await expectCode(store.assignIp({ handleId: 'net.b', node: 'n2', address: '10.9.0.1', pools, attributes: null }), 'ERR_IPAM_NO_POOL');
    expect((await ds.get<IpamBlockObject>(Kinds.IPAMBlock, '10-0-0-64-26'))?.spec.affinity).toBe('host:n1');
    expect(await store.releaseByHandle('net.a')).toEqual(['10.0.0.77']);
  });

  it('gives up with ERR_DATASTORE_CONFLICT after maxRetries lost compare-and-swaps', async () => {
    const inner = createMemoryDatastore();
    // A datastore where every block update loses the race.
    const ds: Datastore = {
      ...inner,
      type: inner.type,
      get: inner.get.bind(inner),
      list: inner.list.bind(inner),
      watch: inner.watch.bind(inner),
      create: inner.create.bind(inner),
      delete: inner.delete.bind(inner),
      close: inner.close.bind(inner),
      update: async (kind, object) => {
        if (kind === Kinds.IPAMBlock) {
          const { TortieError } = await import('../../../lib/errors.js');
          throw new TortieError('ERR_DATASTORE_CONFLICT', 'lost');
        }
        return inner.update(kind, object);
      },
    };
    const conflicts: number[] = [];
    const store = new BlockStore(ds, { retryJitterMs: 0, maxRetries: 5, onConflict: (_k, _n, attempt) => conflicts.push(attempt) });
    await expectCode(store.autoAssign({ handleId: 'net.a', node: 'n1', pools: [pool('p', '10.0.0.0/24')], num4: 1, num6: 0, attributes: null }), 'ERR_DATASTORE_CONFLICT');
    expect(conflicts).toEqual([1, 2, 3, 4, 5]);
  });

  it('an IPAMBlock that does not match its schema is never allocated from or written over', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    const pools = [pool('p', '10.0.0.0/25')];
    await store.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    const block = (await ds.get<IpamBlockObject>(Kinds.IPAMBlock, '10-0-0-0-26'))!;
    await ds.update(Kinds.IPAMBlock, { ...block, spec: { ...block.spec, allocations: [0] } }); // wrong length
    // n1 claims the next block instead of using the broken one.
    expect((await store.autoAssign({ handleId: 'net.b', node: 'n1', pools, num4: 1, num6: 0, attributes: null })).ipv4).toEqual(['10.0.0.64']);
    await expectCode(store.assignIp({ handleId: 'net.c', node: 'n1', address: '10.0.0.9', pools, attributes: null }), 'ERR_VALIDATION');
    await expectCode(store.releaseByHandle('net.a'), 'ERR_VALIDATION');
    expect(await store.getHandle('net.a')).not.toBeNull();
  });

  it('a claim that crashed after the pending affinity, or after the block, is finished by the next claim', async () => {
    const ds = createMemoryDatastore();
    const store = new BlockStore(ds, { retryJitterMs: 0 });
    // Crash 1: pending affinity, no block.
    await ds.create<BlockAffinityObject>(Kinds.BlockAffinity, {
      apiVersion: 'crd.tortie.dev/v1',
      kind: 'BlockAffinity',
      metadata: { name: 'n1-10-0-0-0-26' },
      spec: { state: 'pending', node: 'n1', cidr: '10.0.0.0/26', deleted: false },
    });
    const r = await store.autoAssign({ handleId: 'net.a', node: 'n1', pools: [pool('p', '10.0.0.0/24')], num4: 1, num6: 0, attributes: null });
    expect(r.ipv4).toEqual(['10.0.0.0']);
    expect((await ds.get<BlockAffinityObject>(Kinds.BlockAffinity, 'n1-10-0-0-0-26'))?.spec.state).toBe('confirmed');
    // Crash 2: block created with our affinity, affinity still pending.
    await ds.create<BlockAffinityObject>(Kinds.BlockAffinity, {
      apiVersion: 'crd.tortie.dev/v1',
      kind: 'BlockAffinity',
      metadata: { name: 'n1-10-0-0-64-26' },
      spec: { state: 'pending', node: 'n1', cidr: '10.0.0.64/26', deleted: false },
    });
    const claimed = await store.claimBlock('n1', '10.0.0.64/26');
    expect(await store.claimBlock('n1', '10.0.0.64/26')).toEqual(claimed);
    expect((await ds.get<BlockAffinityObject>(Kinds.BlockAffinity, 'n1-10-0-0-64-26'))?.spec.state).toBe('confirmed');
    // Another node loses the race for that block, and leaves no affinity behind.
    expect(await store.claimBlock('n2', '10.0.0.64/26')).toBeNull();
    expect(await ds.get(Kinds.BlockAffinity, 'n2-10-0-0-64-26')).toBeNull();
  });
});

/** Every datastore call waits for the fast-check scheduler, which picks the interleaving. */
function scheduled(ds: Datastore, s: fc.Scheduler): Datastore {
  const gate = () => s.schedule(Promise.resolve());
  return {
    type: ds.type,
    get: async (...a) => (await gate(), ds.get(...a)),
    list: async (...a) => (await gate(), ds.list(...a)),
    watch: (...a) => ds.watch(...a),
    create: async (...a) => (await gate(), ds.create(...a)),
    update: async (...a) => (await gate(), ds.update(...a)),
    delete: async (...a) => (await gate(), ds.delete(...a)),
    close: () => ds.close(),
  } as Datastore;
}

describe('BlockStore properties: nodes racing on compare-and-swap', () => {
  const requestArb = fc.record({
    node: fc.constantFrom('n1', 'n2', 'n3'),
    num4: fc.integer({ min: 0, max: 2 }),
    num6: fc.integer({ min: 0, max: 1 }),
    strict: fc.boolean(),
  });

  it('never hands out an address twice, never claims a block twice, same handle → same addresses, release converges', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(requestArb, { minLength: 1, maxLength: 12 }), async (s, generated) => {
        // One handle per request: a runtime never runs two operations for one container at once (CNI spec §3).
        const requests = generated.map((r, handle) => ({ ...r, handle }));
        const inner = createMemoryDatastore();
        const store = new BlockStore(scheduled(inner, s), { retryJitterMs: 0, maxRetries: 1000 });
        const direct = new BlockStore(inner, { retryJitterMs: 0 });
        // Small pools: 16 IPv4 addresses in blocks of 4, 8 IPv6 in blocks of 4, so nodes run out and borrow.
        const pools = [pool('v4', '10.0.0.0/28', { blockSize: 30 }), pool('v6', 'fd00::/125', { blockSize: 126 })];
        const run = (r: (typeof requests)[number]) =>
          store
            .autoAssign({ handleId: `net.h${r.handle}`, node: r.node, pools, num4: r.num4, num6: r.num6, attributes: { pod: `h${r.handle}` }, strictAffinity: r.strict })
            .then(
              (ok) => ({ ok: true as const, r, addresses: [...ok.ipv4, ...ok.ipv6] }),
              (err: unknown) => {
                if (!hasErrorCode(err, 'ERR_IPAM_EXHAUSTED')) throw err;
                return { ok: false as const, r };
              },
            );
        const outcomes = await s.waitFor(Promise.all(requests.map(run)));

        // Who holds what, according to the blocks.
        const blocks = (await inner.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
        const holder = new Map<string, string>();
        for (const b of blocks) {
          for (const handle of new Set(b.spec.attributes.map((a) => a.handle_id!))) {
            const { addressesOfHandle } = await import('./allocate.js');
            for (const a of addressesOfHandle(b.spec, handle)) {
              expect(holder.has(a), `${a} held twice`).toBe(false);
              holder.set(a, handle);
            }
          }
          // Never an address outside its block: the block has exactly 2^(bits-prefix) slots.
          expect(b.spec.allocations.length).toBe(4);
        }
        // Every address a successful call returned is held by that handle, and by no other.
        for (const o of outcomes) if (o.ok) for (const a of o.addresses) expect(holder.get(a)).toBe(`net.h${o.r.handle}`);

        // Everything IPAM wrote matches its schema (crds/src).
        for (const kind of [Kinds.IPAMBlock, Kinds.BlockAffinity, Kinds.IPAMHandle]) {
          for (const object of (await inner.list(kind)).items) {
            const v = validateAs(kind, object);
            expect(v.ok, JSON.stringify(!v.ok && v.issues)).toBe(true);
          }
        }

        // No block claimed twice: one affinity per block, and it names the block's node.
        const affinities = (await inner.list<BlockAffinityObject>(Kinds.BlockAffinity)).items;
        const byCidr = new Map<string, string[]>();
        for (const a of affinities) byCidr.set(a.spec.cidr, [...(byCidr.get(a.spec.cidr) ?? []), a.spec.node]);
        for (const b of blocks) {
          const owners = byCidr.get(b.spec.cidr) ?? [];
          expect(owners).toEqual([b.spec.affinity!.slice('host:'.length)]);
        }
        for (const a of affinities) expect(a.spec.state).toBe('confirmed');

        // Same handle again (all at once, racing) → the same addresses, with no write.
        const revision = inner.revision;
        const succeeded = outcomes.filter((o) => o.ok);
        const again = await s.waitFor(Promise.all(succeeded.map((o) => run(o.r))));
        again.forEach((a, i) => expect(a.ok && a.addresses.slice().sort()).toEqual(succeeded[i]!.addresses.slice().sort()));
        expect(inner.revision).toBe(revision);

        // Release everything, racing: every block empties and every handle goes.
        const released = (await s.waitFor(Promise.all(requests.map((r) => store.releaseByHandle(`net.h${r.handle}`))))).flat();
        expect(released.sort()).toEqual([...holder.keys()].sort());
        for (const b of (await inner.list<IpamBlockObject>(Kinds.IPAMBlock)).items) {
          expect(b.spec.allocations.every((a) => a === null)).toBe(true);
          expect(b.spec.unallocated.length).toBe(4);
        }
        expect((await inner.list(Kinds.IPAMHandle)).items).toEqual([]);

        // And allocation works again afterwards, for a node that owns a block of each family
        // (blocks made by strict requests keep strictAffinity, so others may not borrow).
        const ownerOf = (prefix: string) =>
          blocks.find((b) => b.spec.cidr.startsWith(prefix))?.spec.affinity?.slice('host:'.length) ?? 'n1';
        const after4 = await direct.autoAssign({ handleId: 'net.after4', node: ownerOf('10.'), pools, num4: 1, num6: 0, attributes: null });
        const after6 = await direct.autoAssign({ handleId: 'net.after6', node: ownerOf('fd00'), pools, num4: 0, num6: 1, attributes: null });
        expect(after4.ipv4.length + after6.ipv6.length).toBe(2);
      }),
      { numRuns: 200 },
    );
  });
});

/** A datastore whose process "dies" before its (n+1)-th write: every later call fails. */
function crashingAfter(ds: Datastore, writes: number): Datastore {
  let done = 0;
  const write = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    if (done >= writes) throw new Error('crashed');
    done++;
    return f(...a);
  };
  return {
    type: ds.type,
    get: (...a) => ds.get(...a),
    list: (...a) => ds.list(...a),
    watch: (...a) => ds.watch(...a),
    create: write(ds.create.bind(ds)),
    update: write(ds.update.bind(ds)),
    delete: write(ds.delete.bind(ds)),
    close: () => ds.close(),
  } as Datastore;
}

describe('BlockStore properties: a crash between any two writes', () => {
  it('leaves nothing that a later releaseByHandle does not free, and no block claimed twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.constantFrom('n1', 'n2'), { maxLength: 4 }),
        fc.constantFrom('n1', 'n2'),
        fc.integer({ min: 1, max: 3 }),
        async (crashAfter, before, node, num4) => {
          const inner = createMemoryDatastore();
          const healthy = new BlockStore(inner, { retryJitterMs: 0 });
          const pools = [pool('v4', '10.0.0.0/28', { blockSize: 30 }), pool('v6', 'fd00::/124', { blockSize: 126 })];
          for (const [i, n] of before.entries()) {
            await healthy.autoAssign({ handleId: `net.pre${i}`, node: n, pools, num4: 1, num6: 0, attributes: { node: n } });
          }
          const crashing = new BlockStore(crashingAfter(inner, crashAfter), { retryJitterMs: 0 });
          try {
            await crashing.autoAssign({ handleId: 'net.victim', node, pools, num4, num6: 1, attributes: { node } });
          } catch (err) {
            if ((err as Error).message !== 'crashed') throw err;
          }
          // DEL after the restart.
          await healthy.releaseByHandle('net.victim');
          expect(await healthy.getHandle('net.victim')).toBeNull();
          for (const b of (await inner.list<IpamBlockObject>(Kinds.IPAMBlock)).items) {
            expect(b.spec.attributes.some((a) => a.handle_id === 'net.victim')).toBe(false);
          }
          // The pre-existing allocations are untouched, and the node carries on without claiming any block twice.
          for (const [i] of before.entries()) expect((await healthy.addressesOfHandle(`net.pre${i}`)).ipv4).toHaveLength(1);
          await healthy.autoAssign({ handleId: 'net.after', node, pools, num4: 1, num6: 1, attributes: { node } });
          const blocks = (await inner.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
          const affinities = (await inner.list<BlockAffinityObject>(Kinds.BlockAffinity)).items;
          // Each block has one affinity, naming the block's owner; it may still be pending when the
          // crash came before the confirmation (confirmed on the block's next use, or by GC).
          for (const b of blocks) {
            const owners = affinities.filter((a) => a.spec.cidr === b.spec.cidr);
            expect(owners.map((a) => `host:${a.spec.node}`)).toEqual([b.spec.affinity]);
            if (owners[0]!.spec.state === 'pending') {
              expect(b.spec.allocations.some((a) => a !== null)).toBe(false);
            }
          }
          // A pending affinity without a block is the claim's first write: it names no other node's block.
          for (const a of affinities) expect(blocks.some((b) => b.spec.cidr === a.spec.cidr) || a.spec.state === 'pending').toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('BlockStore round trips', () => {
  const pools = [pool('p', '10.0.0.0/24')];

  it('an address from a block the node has: 3 round trips (handle + blocks, handle write + affinity check, block CAS)', async () => {
    const inner = createMemoryDatastore();
    await new BlockStore(inner, { retryJitterMs: 0 }).autoAssign({ handleId: 'net.first', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    const counting = countingRoundTrips(inner);
    const store = new BlockStore(counting.ds, { retryJitterMs: 0 });
    expect((await store.autoAssign({ handleId: 'net.second', node: 'n1', pools, num4: 1, num6: 0, attributes: null })).ipv4).toEqual(['10.0.0.1']);
    expect(counting.roundTrips()).toBe(3);
    expect(counting.calls()).toBe(5);
    // Asked again, the handle's address comes back after one round trip and nothing is written.
    const revision = inner.revision;
    expect((await store.autoAssign({ handleId: 'net.second', node: 'n1', pools, num4: 1, num6: 0, attributes: null })).ipv4).toEqual(['10.0.0.1']);
    expect(counting.roundTrips()).toBe(4);
    expect(inner.revision).toBe(revision);
  });

  it('a release read ahead writes in 2 round trips (block CAS, handle delete); stale reads cost a retry, never a wrong write', async () => {
    const inner = createMemoryDatastore();
    const plain = new BlockStore(inner, { retryJitterMs: 0 });
    const got = await plain.autoAssign({ handleId: 'net.a', node: 'n1', pools, num4: 2, num6: 0, attributes: null });
    const counting = countingRoundTrips(inner);
    let conflicts = 0;
    const store = new BlockStore(counting.ds, { retryJitterMs: 0, onConflict: () => void conflicts++ });
    const reads = await store.prepareRelease('net.a');
    expect(counting.roundTrips()).toBe(2);
    expect((await store.releaseByHandle('net.a', reads)).sort()).toEqual(got.ipv4.sort());
    expect(counting.roundTrips()).toBe(4);
    expect(conflicts).toBe(0);

    // Read ahead, then the block changes (another pod's address) and the handle grows (a second block).
    const b = await plain.autoAssign({ handleId: 'net.b', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    const stale = await store.prepareRelease('net.b');
    const other = await plain.autoAssign({ handleId: 'net.other', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    await plain.assignIp({ handleId: 'net.b', node: 'n1', address: '10.0.0.200', pools, attributes: null });
    expect((await store.releaseByHandle('net.b', stale)).sort()).toEqual([...b.ipv4, '10.0.0.200'].sort());
    expect(conflicts).toBeGreaterThan(0);
    expect(await store.getHandle('net.b')).toBeNull();
    expect(await store.addressesOfHandle('net.other')).toEqual(other);

    // Read ahead for a handle that did not exist yet: released all the same.
    const none = await store.prepareRelease('net.c');
    await plain.autoAssign({ handleId: 'net.c', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    expect(await store.releaseByHandle('net.c', none)).toHaveLength(1);
    // Reads for another handle are not used.
    await plain.autoAssign({ handleId: 'net.d', node: 'n1', pools, num4: 1, num6: 0, attributes: null });
    expect(await store.releaseByHandle('net.d', await store.prepareRelease('net.e'))).toHaveLength(1);
    expect(await store.listHandles()).toHaveLength(1);
  });
});
