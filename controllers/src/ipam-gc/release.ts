/**
 * Applies one Release (find-leaks.ts) to the datastore, safely:
 * 1. re-read what the release is about straight from the datastore (not the
 *    watch cache), and ask `findLeaks` again on that fresh snapshot: if the
 *    leak is gone (the pod came back, the block got an allocation), do nothing;
 * 2. write through BlockStore's compare-and-swap operations, in IPAM's order
 *    (blocks before the handle; block before its affinity);
 * 3. a 409 (ERR_DATASTORE_CONFLICT) means someone wrote meanwhile: re-read and
 *    judge again, a few times, then give up so the queue retries with back-off.
 */
import { hasErrorCode, TortieError } from '../../../lib/errors.js';
import { Kinds, type KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { affinityName, blockName, releaseFromBlock } from '../../../cni/src/ipam/allocate.js';
import { BlockStore, handleObjectName } from '../../../cni/src/ipam/block-store.js';
import { findLeaks, type Release } from './find-leaks.js';
import { type DatastoreMode, type GcSnapshot, ipamRecordsOf, nodeKindOf, podRefOf, workloadRefOf } from './snapshot.js';

export type ReleaseOutcome =
  /** Written: addresses freed, objects deleted. */
  | { done: true; released: string[]; deleted: string[] }
  /** The fresh read shows no leak any more: nothing written. */
  | { done: false; reason: 'no-longer-leaked' };

const MAX_ATTEMPTS = 5;

export class IpamReleaser {
  readonly #ds: Datastore;
  readonly #store: BlockStore;
  readonly #mode: DatastoreMode;

  constructor(datastore: Datastore, mode: DatastoreMode, store: BlockStore = new BlockStore(datastore)) {
    this.#ds = datastore;
    this.#mode = mode;
    this.#store = store;
  }

  /** Re-checks the leak on fresh reads and releases it (CAS, re-read on 409). */
  async apply(release: Release): Promise<ReleaseOutcome> {
    for (let attempt = 1; ; attempt++) {
      const fresh = await this.#freshSnapshot(release);
      const still = findLeaks(fresh).find((r) => r.key === release.key);
      if (still === undefined) return { done: false, reason: 'no-longer-leaked' };
      try {
        return await this.#write(still, fresh);
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Releases without asking whether the workload exists: node-cleanup's path
   * for a node that is gone (its workloads went with it). Frees every address
   * the handle holds, in the handle's blocks and in `alsoBlocks`.
   */
  async releaseHandle(handleId: string, alsoBlocks: readonly string[] = []): Promise<string[]> {
    const released = await this.#store.releaseByHandle(handleId);
    for (const name of alsoBlocks) released.push(...(await this.#releaseInBlock(name, handleId)));
    return released;
  }

  /**
   * Deletes a block if it is still empty and still at `resourceVersion`, then
   * the node's affinity for it. Returns what was deleted (a conflict throws).
   */
  async deleteEmptyBlock(name: string, node: string): Promise<string[]> {
    const deleted: string[] = [];
    const block = await this.#ds.get(Kinds.IPAMBlock, name);
    if (block !== null) {
      const records = ipamRecordsOf([block], [], []);
      const record = records.blocks[0];
      if (record === undefined || record.spec.allocations.some((a) => a !== null)) return deleted;
      if (await this.#deleteAt(Kinds.IPAMBlock, name, block.metadata.resourceVersion)) deleted.push(`IPAMBlock/${name}`);
      const affinity = affinityName(node, record.spec.cidr);
      const current = await this.#ds.get(Kinds.BlockAffinity, affinity);
      if (current !== null && (await this.#deleteAt(Kinds.BlockAffinity, affinity, current.metadata.resourceVersion))) deleted.push(`BlockAffinity/${affinity}`);
    }
    return deleted;
  }

  async #write(release: Release, fresh: GcSnapshot): Promise<ReleaseOutcome> {
    switch (release.kind) {
      case 'allocation': {
        // Blocks that hold the handle's addresses but that its IPAMHandle does not name (or no handle at all).
        const handle = fresh.handles[0];
        const named = new Set(Object.keys(handle?.spec.block ?? {}).map(blockName));
        const released = await this.releaseHandle(release.handleId, release.blocks.filter((b) => !named.has(b)));
        return { done: true, released, deleted: handle === undefined ? [] : [`IPAMHandle/${handle.name}`] };
      }
      case 'handle': {
        // Nothing is held: releaseByHandle frees nothing and deletes the handle at the revision it reads.
        const released = await this.#store.releaseByHandle(release.handleId);
        return { done: true, released, deleted: [`IPAMHandle/${release.name}`] };
      }
      case 'affinity': {
        const deleted: string[] = [];
        if (release.withBlock) {
          const block = fresh.blocks[0];
          if (block !== undefined && (await this.#deleteAt(Kinds.IPAMBlock, block.name, block.resourceVersion))) deleted.push(`IPAMBlock/${block.name}`);
        }
        if (await this.#deleteAt(Kinds.BlockAffinity, release.name, release.resourceVersion)) deleted.push(`BlockAffinity/${release.name}`);
        return { done: true, released: [], deleted };
      }
      case 'block': {
        const deleted: string[] = [];
        if (await this.#deleteAt(Kinds.IPAMBlock, release.name, release.resourceVersion)) deleted.push(`IPAMBlock/${release.name}`);
        const affinity = fresh.affinities.find((a) => a.name === affinityName(release.node, release.cidr));
        if (affinity !== undefined && (await this.#deleteAt(Kinds.BlockAffinity, affinity.name, affinity.resourceVersion))) deleted.push(`BlockAffinity/${affinity.name}`);
        return { done: true, released: [], deleted };
      }
    }
  }

  /** Deletes at a revision; false when already gone. A stale revision throws ERR_DATASTORE_CONFLICT. */
  async #deleteAt(kind: KindInfo, name: string, resourceVersion: string | undefined): Promise<boolean> {
    if (resourceVersion === undefined) throw new TortieError('ERR_DATASTORE_CONFLICT', `${kind.kind} ${name} has no resourceVersion to delete at`);
    try {
      await this.#ds.delete(kind, name, undefined, { resourceVersion });
      return true;
    } catch (err) {
      if (hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) return false;
      throw err;
    }
  }

  /** Frees a handle's addresses in one block (CAS, re-read on conflict), for addresses its IPAMHandle does not name. */
  async #releaseInBlock(name: string, handleId: string): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#ds.get(Kinds.IPAMBlock, name);
      if (stored === null) return [];
      const record = ipamRecordsOf([stored], [], []).blocks[0];
      if (record === undefined) return []; // invalid: never written over
      const next = releaseFromBlock(record.spec, handleId);
      if (next.released.length === 0) return [];
      try {
        await this.#ds.update(Kinds.IPAMBlock, { ...stored, spec: next.block });
        return next.released;
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') || attempt >= MAX_ATTEMPTS * 20) throw err;
      }
    }
  }

  /** The objects one release depends on, read now. */
  async #freshSnapshot(release: Release): Promise<GcSnapshot> {
    const blocks: StoredObject[] = [];
    const affinities: StoredObject[] = [];
    const handles: StoredObject[] = [];
    const nodes = new Set<string>();
    const workloadEndpoints: GcSnapshot['workloadEndpoints'][number][] = [];
    const pods: GcSnapshot['pods'][number][] = [];
    const getInto = async (into: StoredObject[], kind: KindInfo, name: string) => {
      if (into.some((o) => o.metadata.name === name)) return;
      const object = await this.#ds.get(kind, name);
      if (object !== null) into.push(object);
    };
    const checkNode = async (node: string) => {
      if ((await this.#ds.get(nodeKindOf(this.#mode), node)) !== null) nodes.add(node);
    };

    switch (release.kind) {
      case 'allocation': {
        await getInto(handles, Kinds.IPAMHandle, handleObjectName(release.handleId));
        const named = Object.keys((handles[0]?.spec as { block?: Record<string, number> } | undefined)?.block ?? {}).map(blockName);
        for (const name of [...release.blocks, ...named]) await getInto(blocks, Kinds.IPAMBlock, name);
        // Every node recorded on the handle's addresses, and every workload they name.
        const records = ipamRecordsOf(blocks, [], []);
        const owners = new Map<string, { node: string | null; namespace: string | null; pod: string | null }>();
        for (const b of records.blocks) {
          for (const a of b.spec.attributes) {
            if (a.handle_id !== release.handleId) continue;
            const s = a.secondary ?? {};
            owners.set(JSON.stringify([s['node'], s['namespace'], s['pod']]), { node: s['node'] ?? null, namespace: s['namespace'] ?? null, pod: s['pod'] ?? null });
          }
        }
        const namespaces = new Set<string>();
        for (const o of owners.values()) {
          if (o.node !== null) await checkNode(o.node);
          if (o.namespace === null || o.pod === null) continue;
          if (this.#mode === 'kubernetes') {
            const pod = await this.#ds.get(Kinds.K8sPod, o.pod, o.namespace);
            if (pod !== null) pods.push(podRefOf(pod));
          } else if (!namespaces.has(o.namespace)) {
            namespaces.add(o.namespace);
            const { items } = await this.#ds.list(Kinds.WorkloadEndpoint, { namespace: o.namespace });
            workloadEndpoints.push(...items.map(workloadRefOf));
          }
        }
        break;
      }
      case 'handle': {
        await getInto(handles, Kinds.IPAMHandle, release.name);
        const named = Object.keys((handles[0]?.spec as { block?: Record<string, number> } | undefined)?.block ?? {}).map(blockName);
        for (const name of named) await getInto(blocks, Kinds.IPAMBlock, name);
        break;
      }
      case 'affinity': {
        await getInto(affinities, Kinds.BlockAffinity, release.name);
        await getInto(blocks, Kinds.IPAMBlock, blockName(release.cidr));
        await checkNode(release.node);
        break;
      }
      case 'block': {
        await getInto(blocks, Kinds.IPAMBlock, release.name);
        await getInto(affinities, Kinds.BlockAffinity, affinityName(release.node, release.cidr));
        await checkNode(release.node);
        break;
      }
    }
    return { mode: this.#mode, ...ipamRecordsOf(blocks, affinities, handles), nodes, workloadEndpoints, pods };
  }
}
