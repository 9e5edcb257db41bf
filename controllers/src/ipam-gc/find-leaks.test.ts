import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateFromBlock, blockName, affinityName, hostAffinity, newBlock, type IpamBlockSpec } from '../../../cni/src/ipam/allocate.js';
import { findLeakedAllocations, findLeaks, releaseKeys, type Release } from './find-leaks.js';
import type { AffinityRecord, BlockRecord, DatastoreMode, GcSnapshot, HandleRecord, PodRef, WorkloadRef } from './snapshot.js';

interface Alloc {
  handleId: string;
  node: string;
  namespace?: string;
  pod?: string;
  count?: number;
}

/** One block per node (10.0.<i>.0/26, affine to the node), holding the allocations of that node. */
function blocksFor(allocs: readonly Alloc[], affineNodes: readonly string[] = []): { blocks: BlockRecord[]; addresses: Map<string, string[]> } {
  const nodes = [...new Set([...affineNodes, ...allocs.map((a) => a.node)])].sort();
  const addresses = new Map<string, string[]>();
  const blocks = nodes.map((node, i) => {
    let spec: IpamBlockSpec = newBlock(`10.0.${i}.0/26`, node);
    for (const a of allocs.filter((x) => x.node === node)) {
      const secondary: Record<string, string> = { node: a.node };
      if (a.namespace !== undefined) secondary['namespace'] = a.namespace;
      if (a.pod !== undefined) secondary['pod'] = a.pod;
      const got = allocateFromBlock(spec, { handleId: a.handleId, attributes: secondary, count: a.count ?? 1 })!;
      spec = got.block;
      addresses.set(a.handleId, [...(addresses.get(a.handleId) ?? []), ...got.addresses]);
    }
    return { name: blockName(spec.cidr), resourceVersion: '1', spec };
  });
  return { blocks, addresses };
}

function snapshot(over: Partial<GcSnapshot> & { mode?: DatastoreMode }): GcSnapshot {
  return {
    mode: 'etcdv3',
    blocks: [],
    invalidBlocks: new Set(),
    affinities: [],
    handles: [],
    nodes: new Set(),
    workloadEndpoints: [],
    pods: [],
    ...over,
  };
}

const wep = (namespace: string, pod: string, node: string, containerID: string | null = null): WorkloadRef => ({ namespace, pod, node, containerID });
const podRef = (namespace: string, name: string, nodeName: string | null, ips: string[] = []): PodRef => ({ namespace, name, nodeName, ips });
const alloc = (handleId: string, node: string, namespace?: string, pod?: string): Alloc => ({ handleId, node, ...(namespace ? { namespace } : {}), ...(pod ? { pod } : {}) });
const reasons = (releases: Release[]) => Object.fromEntries(releases.map((r) => [r.key, r.reason]));

describe('findLeaks: allocations in etcd mode', () => {
  const { blocks } = blocksFor([
    alloc('net.c1', 'n1', 'default', 'web'),
    alloc('net.c2', 'n1', 'default', 'db'),
    alloc('net.c3', 'n1', 'other', 'web'),
    alloc('tunnel-n1', 'n1'),
    alloc('net.c4', 'gone', 'default', 'api'),
    alloc('net.c5', 'gone', 'default', 'cache'),
    alloc('tunnel-gone', 'gone'),
  ]);
  const leaks = findLeaks(
    snapshot({
      blocks,
      nodes: new Set(['n1']),
      workloadEndpoints: [wep('default', 'web', 'n1', 'c1'), wep('default', 'db', 'n1', 'c-new'), wep('default', 'cache', 'gone')],
    }),
  );
  it.each([
    ['net.c1', undefined, 'its WorkloadEndpoint exists'],
    ['net.c2', 'workload-gone', 'the endpoint belongs to another container of the pod'],
    ['net.c3', 'workload-gone', 'no endpoint of that namespace and pod'],
    ['tunnel-n1', undefined, 'not a workload, and its node exists'],
    ['net.c4', 'node-gone', 'node and endpoint both gone'],
    ['net.c5', undefined, 'the node is gone but the endpoint is still there (node-cleanup removes it)'],
    ['tunnel-gone', 'node-gone', 'not a workload, and its node is gone'],
  ] as [string, string | undefined, string][])('%s → %s (%s)', (handleId, reason) => {
    expect(reasons(leaks)[releaseKeys.allocation(handleId)]).toBe(reason);
  });
});

describe('findLeaks: allocations in kubernetes mode', () => {
  const { blocks, addresses } = blocksFor([
    alloc('net.c1', 'n1', 'default', 'web'),
    alloc('net.c2', 'n1', 'default', 'gone-pod'),
    alloc('net.c3', 'n1', 'default', 'moved'),
    alloc('net.c4', 'n1', 'default', 'restarted'),
    alloc('net.c5', 'n1', 'default', 'starting'),
    alloc('net.c6', 'gone', 'default', 'orphan'),
  ]);
  const leaks = findLeaks(
    snapshot({
      mode: 'kubernetes',
      blocks,
      nodes: new Set(['n1']),
      pods: [
        podRef('default', 'web', 'n1', addresses.get('net.c1')),
        podRef('default', 'moved', 'n2'),
        podRef('default', 'restarted', 'n1', ['10.9.9.9']),
        podRef('default', 'starting', 'n1', []),
        podRef('default', 'orphan', 'gone', []),
      ],
    }),
  );
  it.each([
    ['net.c1', undefined, 'the pod exists and reports this address'],
    ['net.c2', 'pod-gone', 'no such pod'],
    ['net.c3', 'pod-moved', 'the pod is scheduled on another node'],
    ['net.c4', 'pod-ip-differs', 'the pod reports another address'],
    ['net.c5', undefined, 'the pod has no address reported yet (ADD in progress)'],
    ['net.c6', 'node-gone', 'the Kubernetes node is gone, even though the pod object lingers'],
  ] as [string, string | undefined, string][])('%s → %s (%s)', (handleId, reason) => {
    expect(reasons(leaks)[releaseKeys.allocation(handleId)]).toBe(reason);
  });
});

describe('findLeaks: handles, affinities, blocks', () => {
  const handle = (handleID: string, cidrs: string[]): HandleRecord => ({
    name: handleID,
    resourceVersion: '7',
    spec: { handleID, block: Object.fromEntries(cidrs.map((c) => [c, 1])), deleted: false },
  });
  const affinity = (node: string, cidr: string, state: 'pending' | 'confirmed'): AffinityRecord => ({
    name: affinityName(node, cidr),
    resourceVersion: '3',
    spec: { node, cidr, state, deleted: false },
  });

  it('an IPAMHandle no block holds an address for is leaked, unless a block it names cannot be read', () => {
    const { blocks } = blocksFor([alloc('net.live', 'n1', 'default', 'web')]);
    const leaks = findLeaks(
      snapshot({
        blocks,
        invalidBlocks: new Set(['10-0-9-0-26']),
        nodes: new Set(['n1']),
        workloadEndpoints: [wep('default', 'web', 'n1')],
        handles: [handle('net.live', ['10.0.0.0/26']), handle('net.empty', ['10.0.0.0/26']), handle('net.unreadable', ['10.0.9.0/26'])],
      }),
    );
    expect(reasons(leaks)).toEqual({ [releaseKeys.handle('net.empty')]: 'handle-empty' });
  });

  it('pending affinities: released when their block is missing or another node\'s; with the block when it is theirs and empty', () => {
    const mine = { name: '10-0-1-0-26', resourceVersion: '1', spec: newBlock('10.0.1.0/26', 'n1') };
    const others = { name: '10-0-2-0-26', resourceVersion: '1', spec: newBlock('10.0.2.0/26', 'n2') };
    const busy = { name: '10-0-3-0-26', resourceVersion: '1', spec: allocateFromBlock(newBlock('10.0.3.0/26', 'n1'), { handleId: 'h', attributes: { node: 'n1' }, count: 1 })!.block };
    const leaks = findLeaks(
      snapshot({
        blocks: [mine, others, busy],
        nodes: new Set(['n1', 'n2']),
        affinities: [
          affinity('n1', '10.0.0.0/26', 'pending'),
          affinity('n1', '10.0.1.0/26', 'pending'),
          affinity('n1', '10.0.2.0/26', 'pending'),
          affinity('n1', '10.0.3.0/26', 'pending'),
          affinity('n2', '10.0.2.0/26', 'confirmed'),
          affinity('n2', '10.0.4.0/26', 'confirmed'),
        ],
      }),
    );
    const byKey = new Map(leaks.map((l) => [l.key, l]));
    expect(byKey.get(releaseKeys.affinity(affinityName('n1', '10.0.0.0/26')))).toMatchObject({ withBlock: false, reason: 'affinity-pending' });
    expect(byKey.get(releaseKeys.affinity(affinityName('n1', '10.0.1.0/26')))).toMatchObject({ withBlock: true, reason: 'affinity-pending' });
    expect(byKey.get(releaseKeys.affinity(affinityName('n1', '10.0.2.0/26')))).toMatchObject({ withBlock: false, reason: 'affinity-pending' });
    expect(byKey.has(releaseKeys.affinity(affinityName('n1', '10.0.3.0/26')))).toBe(false);
    expect(byKey.has(releaseKeys.affinity(affinityName('n2', '10.0.2.0/26')))).toBe(false);
    expect(byKey.get(releaseKeys.affinity(affinityName('n2', '10.0.4.0/26')))).toMatchObject({ reason: 'affinity-orphaned' });
  });

  it('an empty block of a gone node is released; a non-empty one waits for its addresses to go', () => {
    const { blocks } = blocksFor([alloc('net.b', 'gone-busy', 'default', 'p')], ['gone-empty', 'alive']);
    const leaks = findLeaks(snapshot({ blocks, nodes: new Set(['alive']), workloadEndpoints: [wep('default', 'p', 'gone-busy')] }));
    expect(leaks.filter((l) => l.kind === 'block').map((l) => (l as { node: string }).node)).toEqual(['gone-empty']);
    expect(hostAffinity('x')).toBe('host:x');
  });
});

describe('findLeakedAllocations: the grace period', () => {
  const { blocks } = blocksFor([alloc('net.dead', 'n1', 'default', 'gone')]);
  const snap = snapshot({ blocks, nodes: new Set(['n1']) });
  const key = releaseKeys.allocation('net.dead');

  it('the first observation never releases, even with a zero grace period', () => {
    expect(findLeakedAllocations(snap, new Map(), { nowMs: 0, gracePeriodMs: 0 }).releases).toEqual([]);
  });

  it('releases once seen twice at least the grace period apart', () => {
    const first = findLeakedAllocations(snap, new Map(), { nowMs: 1_000, gracePeriodMs: 60_000 });
    expect(first.recheckAfterMs).toBe(60_000);
    const early = findLeakedAllocations(snap, first.observations, { nowMs: 30_000, gracePeriodMs: 60_000 });
    expect(early.releases).toEqual([]);
    expect(early.recheckAfterMs).toBe(31_000);
    const due = findLeakedAllocations(snap, early.observations, { nowMs: 61_000, gracePeriodMs: 60_000 });
    expect(due.releases.map((r) => r.key)).toEqual([key]);
  });

  it('a leak that goes away in between starts its clock again', () => {
    const first = findLeakedAllocations(snap, new Map(), { nowMs: 0, gracePeriodMs: 10 });
    const healed = findLeakedAllocations(
      snapshot({ blocks, nodes: new Set(['n1']), workloadEndpoints: [wep('default', 'gone', 'n1')] }),
      first.observations,
      { nowMs: 5, gracePeriodMs: 10 },
    );
    expect(healed.observations.size).toBe(0);
    const again = findLeakedAllocations(snap, healed.observations, { nowMs: 20, gracePeriodMs: 10 });
    expect(again.releases).toEqual([]);
  });

  it('a leak that changes (another address) starts its clock again', () => {
    const first = findLeakedAllocations(snap, new Map(), { nowMs: 0, gracePeriodMs: 10 });
    const grown = blocksFor([{ ...alloc('net.dead', 'n1', 'default', 'gone'), count: 2 }]).blocks;
    const later = findLeakedAllocations(snapshot({ blocks: grown, nodes: new Set(['n1']) }), first.observations, { nowMs: 20, gracePeriodMs: 10 });
    expect(later.releases).toEqual([]);
  });
});

describe('findLeakedAllocations: properties', () => {
  // A world of pods on nodes; each pod has an allocation, some have their workload record, some nodes are gone.
  const world = fc.record({
    mode: fc.constantFrom<DatastoreMode>('etcdv3', 'kubernetes'),
    nodes: fc.array(fc.record({ name: fc.constantFrom('n1', 'n2', 'n3', 'n4'), exists: fc.boolean() }), { minLength: 1, maxLength: 4 }),
    pods: fc.array(
      fc.record({ node: fc.nat(3), namespace: fc.constantFrom('default', 'kube-system'), name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), hasWorkload: fc.boolean(), ipKnown: fc.boolean() }),
      { maxLength: 12 },
    ),
  });

  type World = typeof world extends fc.Arbitrary<infer T> ? T : never;
  function build(w: World) {
    const nodes = [...new Map(w.nodes.map((n) => [n.name, n])).values()];
    const pods = [...new Map(w.pods.map((p, i) => [`${p.namespace}/${p.name}`, { ...p, node: nodes[p.node % nodes.length]!.name, containerId: `c${i}` }])).values()];
    const { blocks, addresses } = blocksFor(pods.map((p) => alloc(`net.${p.containerId}`, p.node, p.namespace, p.name)));
    const live = pods.filter((p) => p.hasWorkload);
    const snap = snapshot({
      mode: w.mode,
      blocks,
      nodes: new Set(nodes.filter((n) => n.exists).map((n) => n.name)),
      workloadEndpoints: w.mode === 'etcdv3' ? live.map((p) => wep(p.namespace, p.name, p.node, p.containerId)) : [],
      pods: w.mode === 'kubernetes' ? live.map((p) => podRef(p.namespace, p.name, p.node, p.ipKnown ? addresses.get(`net.${p.containerId}`)! : [])) : [],
    });
    return { snap, pods, existing: snap.nodes };
  }

  it('never releases an allocation whose workload exists on a node that exists; releases every other one after the grace period', () => {
    fc.assert(
      fc.property(world, (w) => {
        const { snap, pods, existing } = build(w);
        const first = findLeakedAllocations(snap, new Map(), { nowMs: 0, gracePeriodMs: 100 });
        expect(first.releases).toEqual([]);
        const second = findLeakedAllocations(snap, first.observations, { nowMs: 100, gracePeriodMs: 100 });
        const released = new Set(second.releases.filter((r) => r.kind === 'allocation').map((r) => (r as { handleId: string }).handleId));
        for (const p of pods) {
          const isLive = p.hasWorkload && existing.has(p.node);
          const etcdNodeGoneWithEndpoint = w.mode === 'etcdv3' && p.hasWorkload && !existing.has(p.node);
          if (isLive || etcdNodeGoneWithEndpoint) expect(released.has(`net.${p.containerId}`)).toBe(false);
          else expect(released.has(`net.${p.containerId}`)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the answer does not depend on the order of blocks, endpoints or pods', () => {
    fc.assert(
      fc.property(world, fc.nat(), (w, seed) => {
        const { snap } = build(w);
        const shuffle = <T>(xs: readonly T[]) => [...xs].map((x, i) => ({ x, k: (i * 7919 + seed) % 104729 })).sort((a, b) => a.k - b.k).map((e) => e.x);
        const shuffled = { ...snap, blocks: shuffle(snap.blocks), workloadEndpoints: shuffle(snap.workloadEndpoints), pods: shuffle(snap.pods) };
        expect(findLeaks(shuffled)).toEqual(findLeaks(snap));
      }),
      { numRuns: 200 },
    );
  });
});
