/**
 * A BlockStore whose writes never race each other inside this process: the
 * agent serves every pod of its node, and twenty parallel ADDs on one
 * BlockStore would each lose compare-and-swap rounds on the node's block to
 * the others (cni/DESIGN.md, IPAM review notes: ~2-3 s for 60 assignments).
 * Here they queue instead, one assignment or release at a time, as Calico
 * serialises IPAM per host with a file lock. The datastore's CAS stays the
 * guard against everyone else (other nodes, a plugin doing the job itself
 * while the agent restarts).
 *
 * autoAssign requests that queue up meanwhile are served together when their turn comes
 * (autoAssignBatch: one block CAS for many single-address requests).
 *
 * Only the public entry points that write are wrapped (prepareRelease only reads); the base class calls its own
 * helpers (claimBlock, listBlocks) directly, so nothing waits on itself.
 */
import type { Datastore } from '../../../lib/datastore/types.js';
import {
  BlockStore,
  type AssignIpRequest,
  type AssignedAddresses,
  type AutoAssignRequest,
  type BlockStoreOptions,
  type ReleaseReads,
} from '../ipam/block-store.js';
import { KeyedMutex } from './keyed-mutex.js';

const IPAM = 'ipam';

interface QueuedAssign {
  request: AutoAssignRequest;
  resolve: (assigned: AssignedAddresses) => void;
  reject: (reason: unknown) => void;
}

export class SerializedBlockStore extends BlockStore {
  readonly #mutex = new KeyedMutex();
  /** autoAssign requests waiting for the queue: whoever reaches the front takes them all (autoAssignBatch). */
  readonly #waiting: QueuedAssign[] = [];

  constructor(datastore: Datastore, options: BlockStoreOptions = {}) {
    super(datastore, options);
  }

  override autoAssign(request: AutoAssignRequest): Promise<AssignedAddresses> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      void this.#mutex.run(IPAM, () => this.#assignWaiting());
    });
  }

  async #assignWaiting(): Promise<void> {
    const batch = this.#waiting.splice(0);
    if (batch.length === 0) return; // an earlier turn took them
    try {
      const settled = await this.autoAssignBatch(batch.map((q) => q.request));
      settled.forEach((outcome, i) => (outcome.status === 'fulfilled' ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.reason)));
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }

  override assignIp(request: AssignIpRequest): Promise<void> {
    return this.#mutex.run(IPAM, () => super.assignIp(request));
  }

  override releaseByHandle(handleId: string, readAhead?: ReleaseReads): Promise<string[]> {
    return this.#mutex.run(IPAM, () => super.releaseByHandle(handleId, readAhead));
  }
}
