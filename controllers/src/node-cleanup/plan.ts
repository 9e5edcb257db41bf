/**
 * What to remove when a node is gone (pure): its WorkloadEndpoints, the
 * handles whose addresses are all recorded on it, the blocks affine to it
 * that are empty once those are released (each with its affinity), its other
 * affinities, and (kubernetes mode) its tortie Node. A block still holding
 * another node's addresses (borrowed) is kept with its affinity; the GC
 * deletes it once it is empty.
 */
import { affinityNode } from '../../../crds/src/index.js';
import { blockName } from '../../../cni/src/ipam/allocate.js';
import { allocationsByHandle } from '../ipam-gc/find-leaks.js';
import type { AffinityRecord, BlockRecord } from '../ipam-gc/snapshot.js';

export interface ObjectRef {
  name: string;
  namespace?: string;
  resourceVersion: string | undefined;
}

export interface NodeCleanupInput {
  node: string;
  /** WorkloadEndpoints whose spec.node is this node. */
  workloadEndpoints: readonly ObjectRef[];
  blocks: readonly BlockRecord[];
  affinities: readonly AffinityRecord[];
  /** The tortie Node of that name (kubernetes mode), if any. */
  tortieNode: ObjectRef | null;
}

export interface NodeCleanupPlan {
  node: string;
  workloadEndpoints: ObjectRef[];
  handles: { handleId: string; blocks: string[] }[];
  /** Blocks affine to the node that are empty after the handles are released. */
  blocks: string[];
  /** Affinities of the node whose block is missing or not the node's. */
  affinities: ObjectRef[];
  /** Blocks affine to the node kept because other nodes' addresses are in them. */
  keptBlocks: string[];
  tortieNode: ObjectRef | null;
}

export function planNodeCleanup(input: NodeCleanupInput): NodeCleanupPlan {
  const handles: NodeCleanupPlan['handles'] = [];
  const releasing = new Set<string>();
  for (const [handleId, held] of allocationsByHandle({ blocks: input.blocks })) {
    if (!held.every((h) => h.node === input.node)) continue;
    releasing.add(handleId);
    handles.push({ handleId, blocks: [...new Set(held.map((h) => h.block))].sort() });
  }
  handles.sort((a, b) => (a.handleId < b.handleId ? -1 : 1));

  const blocks: string[] = [];
  const keptBlocks: string[] = [];
  const owned = new Set<string>();
  for (const block of input.blocks) {
    if (affinityNode(block.spec.affinity) !== input.node) continue;
    owned.add(block.name);
    const emptyAfter = block.spec.allocations.every((a) => {
      if (a === null) return true;
      const handleId = block.spec.attributes[a]?.handle_id;
      return handleId !== null && handleId !== undefined && releasing.has(handleId);
    });
    (emptyAfter ? blocks : keptBlocks).push(block.name);
  }

  const affinities = input.affinities
    .filter((a) => a.spec.node === input.node && !owned.has(blockName(a.spec.cidr)))
    .map((a) => ({ name: a.name, resourceVersion: a.resourceVersion }));

  return {
    node: input.node,
    workloadEndpoints: [...input.workloadEndpoints],
    handles,
    blocks: blocks.sort(),
    affinities,
    keptBlocks: keptBlocks.sort(),
    tortieNode: input.tortieNode,
  };
}
