/**
 * IPAM garbage collection, the pure core (STYLE.md §2: no I/O, same in ⇒ same
 * out). `findLeaks` says what is leaked in one snapshot; `findLeakedAllocations`
 * adds the grace period: a leak is released only once it has been seen in two
 * consecutive sweeps at least `gracePeriodMs` apart, unchanged in between, so
 * an ADD in progress (addresses taken, WorkloadEndpoint not yet written; pod
 * IP not yet reported) is never released.
 *
 * What is leaked (cni/DESIGN.md "Write order" says how each can arise):
 * - an allocation (block attribute with handle_id and secondary.node) whose
 *   workload is gone: etcdv3: no WorkloadEndpoint of that node, namespace and
 *   pod (and container, when the endpoint names one); kubernetes: no Pod of
 *   that namespace and name, or the Pod runs on another node, or reports IPs
 *   none of which the handle holds. An allocation of a node that no longer
 *   exists is leaked too, except (etcdv3) while its WorkloadEndpoint is there:
 *   node-cleanup removes those when the node goes. Allocations with no
 *   namespace/pod (tunnel addresses) are leaked only with their node.
 *   A handle is released whole, so it is leaked only if all its allocations are.
 * - an IPAMHandle whose handleID no block holds any address for;
 * - a BlockAffinity that is not `confirmed` and whose block is missing, owned
 *   by another node, or owned by it and empty (both go); a confirmed one whose
 *   block is missing or owned by another node (a delete that crashed halfway);
 * - an empty block whose affine node no longer exists (with its affinity).
 */
import { addressAt, blockName } from '../../../cni/src/ipam/allocate.js';
import { affinityNode } from '../../../crds/src/index.js';
import { canonicalIp, type GcSnapshot } from './snapshot.js';

export type LeakReason =
  | 'workload-gone'
  | 'pod-gone'
  | 'pod-moved'
  | 'pod-ip-differs'
  | 'node-gone'
  | 'handle-empty'
  | 'affinity-pending'
  | 'affinity-orphaned';

export type Release =
  | {
      kind: 'allocation';
      key: string;
      handleId: string;
      node: string;
      namespace: string | null;
      pod: string | null;
      addresses: string[];
      /** Names of the blocks holding the handle's addresses. */
      blocks: string[];
      reason: LeakReason;
    }
  | { kind: 'handle'; key: string; handleId: string; name: string; resourceVersion: string | undefined; reason: 'handle-empty' }
  | {
      kind: 'affinity';
      key: string;
      name: string;
      node: string;
      cidr: string;
      /** The block is this node's and empty: delete it first, then the affinity. */
      withBlock: boolean;
      resourceVersion: string | undefined;
      reason: 'affinity-pending' | 'affinity-orphaned' | 'node-gone';
    }
  | { kind: 'block'; key: string; name: string; cidr: string; node: string; resourceVersion: string | undefined; reason: 'node-gone' };

export const releaseKeys = {
  allocation: (handleId: string) => `allocation/${handleId}`,
  handle: (handleId: string) => `handle/${handleId}`,
  affinity: (name: string) => `affinity/${name}`,
  block: (name: string) => `block/${name}`,
};

interface Held {
  block: string;
  address: string;
  node: string | null;
  namespace: string | null;
  pod: string | null;
}

/** Every address held, grouped by handle (addresses without a handle cannot be released by handle and are left alone). */
export function allocationsByHandle(snapshot: Pick<GcSnapshot, 'blocks'>): Map<string, Held[]> {
  const out = new Map<string, Held[]>();
  for (const block of snapshot.blocks) {
    block.spec.allocations.forEach((attrIndex, offset) => {
      if (attrIndex === null) return;
      const attr = block.spec.attributes[attrIndex];
      const handleId = attr?.handle_id;
      if (handleId === null || handleId === undefined || handleId === '') return;
      const secondary = attr?.secondary ?? {};
      const list = out.get(handleId) ?? [];
      list.push({
        block: block.name,
        address: canonicalIp(addressAt(block.spec, offset)),
        node: secondary['node'] ?? null,
        namespace: secondary['namespace'] ?? null,
        pod: secondary['pod'] ?? null,
      });
      out.set(handleId, list);
    });
  }
  return out;
}

/** Why this allocation is leaked, or null while its workload (and node) exist. */
function judgeAllocation(snapshot: GcSnapshot, handleId: string, held: Held, handleAddresses: ReadonlySet<string>): LeakReason | null {
  if (held.node === null) return null; // no owner recorded: nothing says it is dead
  const nodeExists = snapshot.nodes.has(held.node);
  const isWorkload = held.namespace !== null && held.pod !== null;
  if (snapshot.mode === 'kubernetes') {
    if (!nodeExists) return 'node-gone';
    if (!isWorkload) return null;
    const pod = snapshot.pods.find((p) => p.namespace === held.namespace && p.name === held.pod);
    if (pod === undefined) return 'pod-gone';
    if (pod.nodeName !== null && pod.nodeName !== held.node) return 'pod-moved';
    if (pod.ips.length > 0 && !pod.ips.some((ip) => handleAddresses.has(ip))) return 'pod-ip-differs';
    return null;
  }
  if (!isWorkload) return nodeExists ? null : 'node-gone';
  const endpoint = snapshot.workloadEndpoints.find(
    (w) =>
      w.namespace === held.namespace &&
      w.pod === held.pod &&
      (w.node === null || w.node === held.node) &&
      (w.containerID === null || handleId.endsWith(`.${w.containerID}`) || handleId === w.containerID),
  );
  if (endpoint !== undefined) return null;
  return nodeExists ? 'workload-gone' : 'node-gone';
}

function isEmpty(spec: { allocations: readonly (number | null)[] }): boolean {
  return spec.allocations.every((a) => a === null);
}

/** What is leaked in this snapshot, now (no grace period). Sorted by key. */
export function findLeaks(snapshot: GcSnapshot): Release[] {
  const out: Release[] = [];
  const held = allocationsByHandle(snapshot);

  for (const [handleId, list] of held) {
    const addresses = new Set(list.map((h) => h.address));
    const reasons = list.map((h) => judgeAllocation(snapshot, handleId, h, addresses));
    if (reasons.some((r) => r === null)) continue;
    const first = list[0]!;
    out.push({
      kind: 'allocation',
      key: releaseKeys.allocation(handleId),
      handleId,
      node: first.node!,
      namespace: first.namespace,
      pod: first.pod,
      addresses: [...addresses].sort(),
      blocks: [...new Set(list.map((h) => h.block))].sort(),
      reason: reasons[0]!,
    });
  }

  const blocksByName = new Map(snapshot.blocks.map((b) => [b.name, b]));
  for (const handle of snapshot.handles) {
    if (held.has(handle.spec.handleID)) continue;
    // A block we cannot read may hold its addresses: keep the handle, it is how they can be found.
    if (Object.keys(handle.spec.block).some((cidr) => snapshot.invalidBlocks.has(blockName(cidr)))) continue;
    out.push({ kind: 'handle', key: releaseKeys.handle(handle.spec.handleID), handleId: handle.spec.handleID, name: handle.name, resourceVersion: handle.resourceVersion, reason: 'handle-empty' });
  }

  for (const affinity of snapshot.affinities) {
    const name = blockName(affinity.spec.cidr);
    if (snapshot.invalidBlocks.has(name)) continue;
    const block = blocksByName.get(name);
    const isOwned = block !== undefined && affinityNode(block.spec.affinity) === affinity.spec.node;
    const base = { kind: 'affinity' as const, key: releaseKeys.affinity(affinity.name), name: affinity.name, node: affinity.spec.node, cidr: affinity.spec.cidr, resourceVersion: affinity.resourceVersion };
    if (affinity.spec.state !== 'confirmed') {
      if (!isOwned) out.push({ ...base, withBlock: false, reason: 'affinity-pending' });
      else if (isEmpty(block.spec)) out.push({ ...base, withBlock: true, reason: 'affinity-pending' });
    } else if (!isOwned) {
      out.push({ ...base, withBlock: false, reason: snapshot.nodes.has(affinity.spec.node) ? 'affinity-orphaned' : 'node-gone' });
    }
  }

  for (const block of snapshot.blocks) {
    const node = affinityNode(block.spec.affinity);
    if (node === null || snapshot.nodes.has(node) || !isEmpty(block.spec)) continue;
    out.push({ kind: 'block', key: releaseKeys.block(block.name), name: block.name, cidr: block.spec.cidr, node, resourceVersion: block.resourceVersion, reason: 'node-gone' });
  }

  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** When each leak was first seen, and what it looked like then. */
export type LeakObservations = ReadonlyMap<string, { fingerprint: string; firstSeenMs: number }>;

/** A leak's identity for the grace period: if this changes between sweeps, the clock starts again. */
export function fingerprintOf(release: Release): string {
  switch (release.kind) {
    case 'allocation':
      return `${release.reason}|${release.addresses.join(',')}`;
    case 'handle':
    case 'block':
      return `${release.reason}|${release.resourceVersion ?? ''}`;
    case 'affinity':
      return `${release.reason}|${release.withBlock}|${release.resourceVersion ?? ''}`;
  }
}

export interface GcOptions {
  nowMs: number;
  gracePeriodMs: number;
}

export interface GcResult {
  /** Leaks seen unchanged for at least the grace period: release these. */
  releases: Release[];
  /** Pass to the next sweep. Leaks not seen in this sweep are forgotten. */
  observations: LeakObservations;
  /** Sweep again after this long to release what is still in its grace period (null: nothing waits). */
  recheckAfterMs: number | null;
}

/** `findLeaks` with the grace period: the releases that are due now. */
export function findLeakedAllocations(snapshot: GcSnapshot, previous: LeakObservations, options: GcOptions): GcResult {
  const observations = new Map<string, { fingerprint: string; firstSeenMs: number }>();
  const releases: Release[] = [];
  let recheckAfterMs: number | null = null;
  for (const leak of findLeaks(snapshot)) {
    const fingerprint = fingerprintOf(leak);
    const seen = previous.get(leak.key);
    const firstSeenMs = seen !== undefined && seen.fingerprint === fingerprint ? seen.firstSeenMs : options.nowMs;
    observations.set(leak.key, { fingerprint, firstSeenMs });
    const waitedMs = options.nowMs - firstSeenMs;
    // Two observations: the first one (waitedMs 0) never releases, even with a zero grace period.
    if (seen !== undefined && seen.fingerprint === fingerprint && waitedMs >= options.gracePeriodMs) {
      releases.push(leak);
    } else {
      const remaining = Math.max(1, options.gracePeriodMs - waitedMs);
      recheckAfterMs = recheckAfterMs === null ? remaining : Math.min(recheckAfterMs, remaining);
    }
  }
  return { releases, observations, recheckAfterMs };
}
