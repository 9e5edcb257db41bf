import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { BlockStore, type BlockAffinityObject, type IpamBlockObject, type IpamHandleObject } from '../../../cni/src/ipam/block-store.js';
import { addressesOfHandle, type PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { findLeaks } from './find-leaks.js';
import { IpamReleaser } from './release.js';
import { ipamRecordsOf, workloadRefOf, type GcSnapshot } from './snapshot.js';

/** A datastore whose process "dies" before its (n+1)-th write: every later write fails. */
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

async function snapshotOfStore(ds: Datastore): Promise<GcSnapshot> {
  const [blocks, affinities, handles, nodes, weps] = await Promise.all([
    ds.list(Kinds.IPAMBlock),
    ds.list(Kinds.BlockAffinity),
    ds.list(Kinds.IPAMHandle),
    ds.list(Kinds.Node),
    ds.list(Kinds.WorkloadEndpoint),
  ]);
  return {
    mode: 'etcdv3',
    ...ipamRecordsOf(blocks.items, affinities.items, handles.items),
    nodes: new Set(nodes.items.map((n) => n.metadata.name)),
    workloadEndpoints: weps.items.map(workloadRefOf),
    pods: [],
  };
}

/** Sweeps and releases until nothing is leaked (the grace period is the controller's business, not this test's). */
async function collectToFixpoint(ds: Datastore): Promise<number> {
  const releaser = new IpamReleaser(ds, 'etcdv3');
  for (let round = 1; round <= 10; round++) {
    const leaks = findLeaks(await snapshotOfStore(ds));
    if (leaks.length === 0) return round;
    for (const leak of leaks) await releaser.apply(leak);
  }
  throw new Error('the GC did not reach a fixpoint in 10 rounds');
}

const wep = (node: string, pod: string): StoredObject => ({
  apiVersion: TORTIE_API_VERSION,
  kind: 'WorkloadEndpoint',
  metadata: { name: `${node}-k8s-${pod}-eth0`, namespace: 'default' },
  spec: { node, pod, containerID: pod, interfaceName: 'tor0' },
});

describe('a plugin killed at any point leaves nothing the GC cannot release', () => {
  it('crash after any number of IPAM writes, then GC: the victim is gone, the others untouched, every block has one confirmed affinity', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.constantFrom('n1', 'n2'), { maxLength: 4 }),
        fc.constantFrom('n1', 'n2'),
        fc.integer({ min: 1, max: 3 }),
        async (crashAfter, before, node, num4) => {
          const inner = createMemoryDatastore();
          for (const n of ['n1', 'n2']) await inner.create(Kinds.Node, { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: n }, spec: {} });
          const healthy = new BlockStore(inner, { retryJitterMs: 0 });
          const pools: PoolInfo[] = [
            { name: 'v4', spec: { cidr: '10.0.0.0/28', blockSize: 30 } },
            { name: 'v6', spec: { cidr: 'fd00::/124', blockSize: 126 } },
          ];
          const live: string[] = [];
          for (const [i, n] of before.entries()) {
            const handleId = `net.pre${i}`;
            await healthy.autoAssign({ handleId, node: n, pools, num4: 1, num6: 0, attributes: { node: n, namespace: 'default', pod: `pre${i}` } });
            await inner.create(Kinds.WorkloadEndpoint, wep(n, `pre${i}`));
            live.push(handleId);
          }
          const crashing = new BlockStore(crashingAfter(inner, crashAfter), { retryJitterMs: 0 });
          try {
            await crashing.autoAssign({ handleId: 'net.victim', node, pools, num4, num6: 1, attributes: { node, namespace: 'default', pod: 'victim' } });
          } catch (err) {
            if ((err as Error).message !== 'crashed' && (err as { code?: string }).code !== 'ERR_IPAM_EXHAUSTED') throw err;
          }
          // No DEL ever comes, no endpoint was written: only the GC can clean up.
          await collectToFixpoint(inner);

          const blocks = (await inner.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
          const affinities = (await inner.list<BlockAffinityObject>(Kinds.BlockAffinity)).items;
          const handles = (await inner.list<IpamHandleObject>(Kinds.IPAMHandle)).items;
          for (const b of blocks) expect(addressesOfHandle(b.spec, 'net.victim')).toEqual([]);
          expect(handles.map((h) => h.spec.handleID).sort()).toEqual([...live].sort());
          for (const h of live) expect((await healthy.addressesOfHandle(h)).ipv4).toHaveLength(1);
          // Every block keeps exactly one affinity, its owner's; none is left pending, and no affinity names a missing block.
          for (const b of blocks) expect(affinities.filter((a) => a.spec.cidr === b.spec.cidr).map((a) => `host:${a.spec.node}`)).toEqual([b.spec.affinity]);
          for (const a of affinities) {
            expect(a.spec.state).toBe('confirmed');
            expect(blocks.some((b) => b.spec.cidr === a.spec.cidr)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  }, 60_000);
});
