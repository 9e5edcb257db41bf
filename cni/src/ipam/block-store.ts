/**
 * Block IPAM on a Datastore: the effectful shell around allocate.ts.
 *
 * Every write is a compare-and-swap on `resourceVersion` (or a create, which
 * fails on a taken name); a conflict re-reads the object and recomputes the
 * change, up to `maxRetries` times, then gives up with ERR_DATASTORE_CONFLICT
 * ("try again later", CNI code 11).
 *
 * Write order (cni/DESIGN.md "IPAM write order" says why, step by step):
 *   allocate: IPAMHandle (records the block) → IPAMBlock (takes the address)
 *   claim:    BlockAffinity pending → IPAMBlock create → BlockAffinity confirmed
 *   release:  IPAMBlock (frees the addresses) → IPAMHandle delete
 * so a crash between any two writes leaves either nothing taken, or an
 * address whose handle names its block (releaseByHandle finds it), or a
 * handle/affinity that names nothing (releaseByHandle and the GC remove it).
 */
import { TortieError, hasErrorCode } from '../../../lib/errors.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { parseCidr } from '../../../lib/cidr.js';
import { IPAMBlockSpecSchema } from '../../../crds/src/ipam-block.js';
import {
  type IpamBlockSpec,
  type PoolInfo,
  addressesOfHandle,
  affinityName,
  allocateFromBlock,
  assignAddressInBlock,
  blockCidrForAddress,
  blockForAddress,
  blockName,
  chooseBlockToClaim,
  hostAffinity,
  newBlock,
  poolForAddress,
  releaseFromBlock,
} from './allocate.js';

export interface IpamBlockObject extends StoredObject {
  spec: IpamBlockSpec;
}

export interface BlockAffinitySpec {
  state: 'confirmed' | 'pending' | 'pendingDeletion';
  node: string;
  cidr: string;
  deleted: boolean;
}
export interface BlockAffinityObject extends StoredObject {
  spec: BlockAffinitySpec;
}

export interface IpamHandleSpec {
  handleID: string;
  /** Block CIDR → number of addresses this handle holds (or may hold) there. */
  block: Record<string, number>;
  deleted: boolean;
}
export interface IpamHandleObject extends StoredObject {
  spec: IpamHandleSpec;
}

export interface BlockStoreOptions {
  /** Compare-and-swap attempts per object before giving up (Calico uses 100). */
  maxRetries?: number;
  /** Upper bound of the random pause after a conflict, so racers spread out. 0 = none. */
  retryJitterMs?: number;
  /** Called after a lost compare-and-swap, for logging and tests. */
  onConflict?: (kind: string, name: string, attempt: number) => void;
}

export interface AutoAssignRequest {
  handleId: string;
  node: string;
  /** Pools this pod may use (selectPools' answer), either family, in order of preference. */
  pools: readonly PoolInfo[];
  num4: number;
  num6: number;
  /** Recorded on each address: node, namespace, pod, timestamp. */
  attributes: Record<string, string> | null;
  /** At most this many blocks affine to the node (0 or absent: no limit). */
  maxBlocksPerHost?: number;
  /** Never take an address from a block affine to another node (IPAMConfiguration.strictAffinity). */
  strictAffinity?: boolean;
}

export interface AssignedAddresses {
  ipv4: string[];
  ipv6: string[];
}

/**
 * What one assignment knows of its handle: the stored object (null: none
 * exists) as last read or written, or undefined when it must be read again.
 * Saves the read before each handle write; a stale value costs a lost CAS.
 */
interface HandleSeen {
  current: IpamHandleObject | null | undefined;
}

/** What releaseByHandle reads before writing, read ahead of time (prepareRelease); stale values cost a lost CAS, never a wrong write. */
export interface ReleaseReads {
  handleId: string;
  handle: IpamHandleObject | null;
  /** The blocks the handle names, by object name (null: absent). */
  blocks: ReadonlyMap<string, IpamBlockObject | null>;
}

export interface AssignIpRequest {
  handleId: string;
  node: string;
  address: string;
  pools: readonly PoolInfo[];
  attributes: Record<string, string> | null;
}

/** Kubernetes names are lower case; the handle ID itself keeps its case in `spec.handleID`. */
export function handleObjectName(handleId: string): string {
  return handleId.toLowerCase();
}

/**
 * A stored block checked against its schema (crds/src/ipam-block.ts), with
 * defaults applied; null when invalid, which IPAM treats as absent (STYLE.md
 * §1): it never allocates from, nor writes over, a block it cannot read.
 */
function validBlock(object: IpamBlockObject | null): IpamBlockObject | null {
  if (object === null) return null;
  const parsed = IPAMBlockSpecSchema.safeParse(object.spec);
  if (!parsed.success) return null;
  return { ...object, spec: { ...parsed.data, affinity: parsed.data.affinity ?? null } as IpamBlockSpec };
}

/** The addresses a handle holds in the blocks it names, found among `blocks` (one list, no further reads). */
function addressesOfHandleIn(handle: IpamHandleObject | null, blocks: readonly IpamBlockObject[], handleId: string): AssignedAddresses {
  const out: AssignedAddresses = { ipv4: [], ipv6: [] };
  if (handle === null) return out;
  const byName = new Map(blocks.map((b) => [b.metadata.name, b]));
  for (const cidr of Object.keys(handle.spec.block)) {
    const block = byName.get(blockName(cidr));
    if (block === undefined) continue;
    const family = parseCidr(block.spec.cidr)?.family;
    for (const a of addressesOfHandle(block.spec, handleId)) (family === 6 ? out.ipv6 : out.ipv4).push(a);
  }
  return out;
}

/** The node's own blocks among `blocks`, in pool order then address order: where it allocates first. */
function affineInOrder(blocks: readonly IpamBlockObject[], pools: readonly PoolInfo[], myAffinity: string): IpamBlockObject[] {
  const rank = (b: IpamBlockObject): [number, bigint] => {
    const network = parseCidr(b.spec.cidr)?.network ?? 0n;
    const poolIndex = pools.findIndex((p) => poolForAddress([p], b.spec.cidr.split('/')[0]!) !== undefined);
    return [poolIndex, network];
  };
  return blocks
    .filter((b) => b.spec.affinity === myAffinity)
    .map((b) => ({ b, r: rank(b) }))
    .sort((x, y) => x.r[0] - y.r[0] || (x.r[1] < y.r[1] ? -1 : x.r[1] > y.r[1] ? 1 : 0))
    .map((x) => x.b);
}

function familyOf(pool: PoolInfo): 4 | 6 | null {
  return parseCidr(pool.spec.cidr)?.family ?? null;
}

export class BlockStore {
  readonly #ds: Datastore;
  readonly #maxRetries: number;
  readonly #retryJitterMs: number;
  readonly #onConflict: BlockStoreOptions['onConflict'];

  constructor(datastore: Datastore, options: BlockStoreOptions = {}) {
    this.#ds = datastore;
    this.#maxRetries = options.maxRetries ?? 100;
    this.#retryJitterMs = options.retryJitterMs ?? 5;
    this.#onConflict = options.onConflict;
  }

  /** Every IPAMBlock (invalid ones are skipped: treated as absent, STYLE.md §1). */
  async listBlocks(): Promise<IpamBlockObject[]> {
    const { items } = await this.#ds.list<IpamBlockObject>(Kinds.IPAMBlock);
    return items.map(validBlock).filter((b) => b !== null);
  }

  async #getBlock(name: string): Promise<IpamBlockObject | null> {
    return validBlock(await this.#ds.get<IpamBlockObject>(Kinds.IPAMBlock, name));
  }

  async getHandle(handleId: string): Promise<IpamHandleObject | null> {
    return this.#ds.get<IpamHandleObject>(Kinds.IPAMHandle, handleObjectName(handleId));
  }


  /** Every IPAMHandle. */
  async listHandles(): Promise<IpamHandleObject[]> {
    return (await this.#ds.list<IpamHandleObject>(Kinds.IPAMHandle)).items;
  }

  /**
   * The nodes recorded (`secondary.node`) on the addresses a handle holds.
   * Garbage collection on one node must only ever release that node's handles.
   */
  async nodesOfHandle(handle: IpamHandleObject): Promise<Set<string>> {
    const nodes = new Set<string>();
    for (const cidr of Object.keys(handle.spec.block)) {
      const block = await this.#getBlock(blockName(cidr));
      if (block === null) continue;
      for (const attr of block.spec.attributes) {
        const node = attr.secondary?.node;
        if (attr.handle_id === handle.spec.handleID && node !== undefined) nodes.add(node);
      }
    }
    return nodes;
  }

  /** The addresses a handle holds now, found through the blocks its IPAMHandle names. */
  async addressesOfHandle(handleId: string): Promise<AssignedAddresses> {
    const handle = await this.getHandle(handleId);
    const out: AssignedAddresses = { ipv4: [], ipv6: [] };
    if (handle === null) return out;
    for (const cidr of Object.keys(handle.spec.block)) {
      const block = await this.#getBlock(blockName(cidr));
      if (block === null) continue;
      const family = parseCidr(block.spec.cidr)?.family;
      for (const a of addressesOfHandle(block.spec, handleId)) (family === 6 ? out.ipv6 : out.ipv4).push(a);
    }
    return out;
  }

  /**
   * `num4` IPv4 and `num6` IPv6 addresses for a handle. Idempotent: a handle
   * that already holds addresses gets those back (and only the shortfall is
   * allocated). Throws ERR_IPAM_EXHAUSTED when the pools have too few free
   * addresses; what was taken before that stays recorded under the handle, and
   * the caller releases it with releaseByHandle (CNI ADD undoes in reverse).
   */
  autoAssign(request: AutoAssignRequest): Promise<AssignedAddresses> {
    return this.#autoAssignOne(request);
  }

  /**
   * Several autoAssign requests at once, as the CNI agent queues them. Requests for one IPv4
   * address on the same node and pools that hold nothing yet share one read and one
   * compare-and-swap on the node's first own block with room: their handles are written first,
   * side by side (the write order holds for each), then the block once with all their addresses.
   * Every other request, and those the block has no room for, go through autoAssign one by one.
   * Answers in request order; never throws.
   */
  async autoAssignBatch(requests: readonly AutoAssignRequest[]): Promise<PromiseSettledResult<AssignedAddresses>[]> {
    let together = new Map<AutoAssignRequest, string>();
    const first = requests[0];
    if (first !== undefined) {
      const poolsKey = JSON.stringify(first.pools);
      const handles = new Set<string>();
      const group = requests.filter((r) => {
        // One request per handle together: a handle asked twice is answered by autoAssign, idempotently.
        if (handles.has(r.handleId) || r.num4 !== 1 || r.num6 !== 0 || r.node !== first.node || JSON.stringify(r.pools) !== poolsKey) return false;
        handles.add(r.handleId);
        return true;
      });
      // A failure here leaves at most handles that name a block where they hold nothing: each request alone below finishes it.
      if (group.length >= 2) together = await this.#assignTogether(group).catch(() => new Map<AutoAssignRequest, string>());
    }
    const settled: PromiseSettledResult<AssignedAddresses>[] = [];
    for (const request of requests) {
      const address = together.get(request);
      if (address !== undefined) {
        settled.push({ status: 'fulfilled', value: { ipv4: [address], ipv6: [] } });
        continue;
      }
      try {
        settled.push({ status: 'fulfilled', value: await this.#autoAssignOne(request) });
      } catch (reason) {
        settled.push({ status: 'rejected', reason });
      }
    }
    return settled;
  }

  /** autoAssignBatch's shared step: one IPv4 address each, for requests of one node and pool list. */
  async #assignTogether(group: readonly AutoAssignRequest[]): Promise<Map<AutoAssignRequest, string>> {
    const none = new Map<AutoAssignRequest, string>();
    const node = group[0]!.node;
    const pools = group[0]!.pools.filter((p) => familyOf(p) === 4);
    const [handles, listed] = await Promise.all([Promise.all(group.map((r) => this.getHandle(r.handleId))), this.listBlocks()]);
    // A request whose handle holds something already gets exactly that back, from autoAssign.
    const fresh = group
      .map((request, k) => ({ request, handle: handles[k] ?? null }))
      .filter(({ request, handle }) => addressesOfHandleIn(handle, listed, request.handleId).ipv4.length === 0);
    const inPools = (b: IpamBlockObject) => blockForAddress(pools.map((p) => p.spec), b.spec.cidr.split('/')[0]!) !== undefined;
    const block = affineInOrder(listed.filter(inPools), pools, hostAffinity(node)).find((b) => b.spec.unallocated.length > 0);
    if (block === undefined) return none;
    const taking = fresh.slice(0, block.spec.unallocated.length);
    if (taking.length < 2) return none;
    // Handles first (each names the block before it holds an address there); the affinity beside them.
    await Promise.all([
      this.#confirmAffinity(affinityName(node, block.spec.cidr)),
      ...taking.map(({ request, handle }) => this.#recordInHandle(request.handleId, block.spec.cidr, 1, { current: handle })),
    ]);
    let current: IpamBlockObject | null = block;
    for (let attempt = 1; ; attempt++) {
      if (current === null || current.spec.deleted) return none;
      let spec = current.spec;
      const addresses = new Map<AutoAssignRequest, string>();
      for (const { request } of taking) {
        const next = allocateFromBlock(spec, { handleId: request.handleId, attributes: request.attributes, count: 1 });
        if (next === null) break;
        spec = next.block;
        addresses.set(request, next.addresses[0]!);
      }
      if (addresses.size === 0) return none;
      try {
        await this.#ds.update<IpamBlockObject>(Kinds.IPAMBlock, { ...current, spec });
        return addresses;
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        await this.#afterConflict('IPAMBlock', current.metadata.name, attempt);
        current = await this.#getBlock(current.metadata.name);
      }
    }
  }

  async #autoAssignOne(request: AutoAssignRequest): Promise<AssignedAddresses> {
    // One round trip for both reads: the handle (what it holds already) and every block (where to take more).
    const [handle, allBlocks] = await Promise.all([this.getHandle(request.handleId), this.listBlocks()]);
    const seen: HandleSeen = { current: handle };
    const existing = addressesOfHandleIn(handle, allBlocks, request.handleId);
    // The first family that needs addresses uses that list; a second one lists again, since the
    // first may have taken long enough (CAS races with other writers) for the list to be stale,
    // and a stale list makes concurrent ADDs each claim a block the others claimed meanwhile.
    let listed: IpamBlockObject[] | null = allBlocks;
    const result: AssignedAddresses = {
      ipv4: existing.ipv4.slice(0, Math.max(request.num4, 0)),
      ipv6: existing.ipv6.slice(0, Math.max(request.num6, 0)),
    };
    for (const family of [4, 6] as const) {
      const target = family === 4 ? request.num4 : request.num6;
      const have = family === 4 ? result.ipv4 : result.ipv6;
      const need = target - have.length;
      if (need <= 0) continue;
      const pools = request.pools.filter((p) => familyOf(p) === family);
      if (pools.length === 0) {
        throw new TortieError('ERR_IPAM_EXHAUSTED', `no IPv${family} pool is usable by node ${request.node} (none exists, all are disabled, or none selects the node)`, {
          details: { family, node: request.node },
        });
      }
      const blocks = listed ?? (await this.listBlocks());
      listed = null;
      have.push(...(await this.#assignFamily(request, pools, need, blocks, seen)));
    }
    return result;
  }

  async #assignFamily(request: AutoAssignRequest, pools: readonly PoolInfo[], count: number, listed: readonly IpamBlockObject[], seen: HandleSeen): Promise<string[]> {
    const got: string[] = [];
    const myAffinity = hostAffinity(request.node);
    const inPools = (b: IpamBlockObject) => blockForAddress(pools.map((p) => p.spec), b.spec.cidr.split('/')[0]!) !== undefined;
    let blocks = listed.filter(inPools);

    // 1. The node's own blocks, in pool order then address order.
    for (const block of affineInOrder(blocks, pools, myAffinity)) {
      if (got.length >= count) return got;
      if (block.spec.unallocated.length === 0) continue;
      // A claim that crashed after creating the block left its affinity pending: finish it. The
      // affinity is its own object, ordered with neither the handle nor the block: check it alongside.
      const [confirmed, allocated] = await Promise.allSettled([
        this.#confirmAffinity(affinityName(request.node, block.spec.cidr)),
        this.#allocateIn(block, request, count - got.length, seen),
      ]);
      if (allocated.status === 'rejected') throw allocated.reason;
      got.push(...allocated.value);
      if (confirmed.status === 'rejected') throw confirmed.reason;
    }

    // 2. Claim new blocks while the node may have more.
    const maxBlocks = request.maxBlocksPerHost ?? 0;
    const claimed = new Set<string>();
    // Blocks lost to another claimer (or unreadable): never chosen again in this call, so the loop ends.
    const unavailable: { cidr: string }[] = [];
    while (got.length < count) {
      const affineCount = blocks.filter((b) => b.spec.affinity === myAffinity).length + claimed.size;
      if (maxBlocks > 0 && affineCount >= maxBlocks) break;
      let cidr: string | null = null;
      let pool: PoolInfo | undefined;
      for (const p of pools) {
        cidr = chooseBlockToClaim(p, [...blocks.map((b) => b.spec), ...unavailable]);
        if (cidr !== null) {
          pool = p;
          break;
        }
      }
      if (cidr === null || pool === undefined) break;
      const block = await this.claimBlock(request.node, cidr, request.strictAffinity ?? pool.spec.strictAffinity ?? false);
      if (block === null) {
        // Another node won the race for this block: look again at what exists.
        unavailable.push({ cidr });
        blocks = (await this.listBlocks()).filter(inPools);
        continue;
      }
      claimed.add(block.spec.cidr);
      blocks.push(block);
      got.push(...(await this.#allocateIn(block, request, count - got.length, seen)));
    }

    // 3. Borrow from other nodes' blocks, unless affinity is strict.
    if (got.length < count) {
      blocks = (await this.listBlocks()).filter(inPools);
      for (const block of blocks) {
        if (got.length >= count) break;
        if (block.spec.affinity === myAffinity || block.spec.unallocated.length === 0) continue;
        const pool = poolForAddress(pools, block.spec.cidr.split('/')[0]!);
        const strict = request.strictAffinity ?? pool?.spec.strictAffinity ?? false;
        if (strict || block.spec.strictAffinity) continue;
        got.push(...(await this.#allocateIn(block, request, count - got.length, seen)));
      }
    }

    if (got.length < count) {
      const family = familyOf(pools[0]!);
      throw new TortieError(
        'ERR_IPAM_EXHAUSTED',
        `IPv${family} pools ${pools.map((p) => p.spec.cidr).join(', ')} have no free address for node ${request.node}` +
          ` (wanted ${count}, got ${got.length}${request.strictAffinity ? '; strictAffinity forbids borrowing' : ''}${maxBlocks > 0 ? `; maxBlocksPerHost ${maxBlocks}` : ''})`,
        { details: { family, node: request.node, wanted: count, got: got.length } },
      );
    }
    return got;
  }

  /** Takes up to `count` addresses from one block: handle first, then the block (CAS, re-read on conflict). */
  async #allocateIn(
    initial: IpamBlockObject,
    request: { handleId: string; attributes: Record<string, string> | null },
    count: number,
    seen: HandleSeen,
  ): Promise<string[]> {
    let block: IpamBlockObject | null = initial;
    let recorded = false;
    for (let attempt = 1; ; attempt++) {
      if (block === null || block.spec.deleted) return [];
      const free = block.spec.unallocated.length;
      if (free === 0) return [];
      if (!recorded) {
        await this.#recordInHandle(request.handleId, block.spec.cidr, Math.min(free, count), seen);
        recorded = true;
      }
      const next = allocateFromBlock(block.spec, { handleId: request.handleId, attributes: request.attributes, count });
      if (next === null) return [];
      try {
        await this.#ds.update<IpamBlockObject>(Kinds.IPAMBlock, { ...block, spec: next.block });
        return next.addresses;
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        await this.#afterConflict('IPAMBlock', block.metadata.name, attempt);
        block = await this.#getBlock(block.metadata.name);
      }
    }
  }

  /**
   * Makes the handle name a block before any address of that block is taken
   * for it. `count` raises the recorded number; the number is an upper bound
   * (a crash or a lost race can leave it higher than what the block holds),
   * release trusts the block, never the count.
   */
  async #recordInHandle(handleId: string, cidr: string, count: number, seen: HandleSeen = { current: undefined }): Promise<void> {
    const name = handleObjectName(handleId);
    for (let attempt = 1; ; attempt++) {
      const current = seen.current !== undefined ? seen.current : await this.#ds.get<IpamHandleObject>(Kinds.IPAMHandle, name);
      try {
        if (current === null) {
          seen.current = await this.#ds.create<IpamHandleObject>(Kinds.IPAMHandle, {
            apiVersion: TORTIE_API_VERSION,
            kind: 'IPAMHandle',
            metadata: { name },
            spec: { handleID: handleId, block: { [cidr]: count }, deleted: false },
          });
        } else {
          const block = { ...current.spec.block, [cidr]: (current.spec.block[cidr] ?? 0) + count };
          seen.current = await this.#ds.update<IpamHandleObject>(Kinds.IPAMHandle, { ...current, spec: { ...current.spec, block, deleted: false } });
        }
        return;
      } catch (err) {
        seen.current = undefined;
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') && !hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
        await this.#afterConflict('IPAMHandle', name, attempt);
      }
    }
  }

  /**
   * Claims a block for a node: BlockAffinity pending → IPAMBlock create →
   * BlockAffinity confirmed. Returns the new block, or null when another node
   * created that block first (our pending affinity is then removed).
   * A block that already exists with this node's affinity (a claim that
   * crashed before confirming) is adopted.
   */
  async claimBlock(node: string, cidr: string, strictAffinity = false): Promise<IpamBlockObject | null> {
    const affName = affinityName(node, cidr);
    let affinity: BlockAffinityObject;
    try {
      affinity = await this.#ds.create<BlockAffinityObject>(Kinds.BlockAffinity, {
        apiVersion: TORTIE_API_VERSION,
        kind: 'BlockAffinity',
        metadata: { name: affName },
        spec: { state: 'pending', node, cidr, deleted: false },
      });
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
      // Ours from an earlier attempt (the name holds node and CIDR): carry on with it.
      const found = await this.#ds.get<BlockAffinityObject>(Kinds.BlockAffinity, affName);
      if (found === null) return null;
      affinity = found;
    }

    let block: IpamBlockObject;
    try {
      block = await this.#ds.create<IpamBlockObject>(Kinds.IPAMBlock, {
        apiVersion: TORTIE_API_VERSION,
        kind: 'IPAMBlock',
        metadata: { name: blockName(cidr) },
        spec: newBlock(cidr, node, strictAffinity),
      });
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
      const existing = await this.#getBlock(blockName(cidr));
      if (existing !== null && existing.spec.affinity === hostAffinity(node)) {
        block = existing;
      } else {
        if (affinity.spec.state === 'pending') await this.#deleteQuietly(Kinds.BlockAffinity, affName, affinity.metadata.resourceVersion);
        return null;
      }
    }

    if (affinity.spec.state !== 'confirmed') await this.#confirmAffinity(affName);
    return block;
  }

  async #confirmAffinity(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#ds.get<BlockAffinityObject>(Kinds.BlockAffinity, name);
      if (current === null || current.spec.state === 'confirmed') return;
      try {
        await this.#ds.update<BlockAffinityObject>(Kinds.BlockAffinity, { ...current, spec: { ...current.spec, state: 'confirmed' } });
        return;
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        await this.#afterConflict('BlockAffinity', name, attempt);
      }
    }
  }

  async #deleteQuietly(kind: (typeof Kinds)[keyof typeof Kinds], name: string, resourceVersion: string | undefined): Promise<void> {
    try {
      await this.#ds.delete(kind, name, undefined, resourceVersion === undefined ? {} : { resourceVersion });
    } catch (err) {
      // Already gone, or changed by someone who now owns it: either way it is not ours to delete.
      if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND') && !hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
    }
  }

  /**
   * Takes one given address for a handle (`tortie.dev/ipAddrs`). The address
   * must be inside one of `pools`; its block is claimed for the node if it does
   * not exist yet. Idempotent for the same handle; ERR_IPAM_ADDRESS_IN_USE when
   * another handle holds it.
   */
  async assignIp(request: AssignIpRequest): Promise<void> {
    const pool = poolForAddress(request.pools, request.address);
    if (pool === undefined) {
      throw new TortieError('ERR_IPAM_NO_POOL', `address ${request.address} is in no IP pool; ${ANNOTATION_HINT}`, { details: { address: request.address } });
    }
    const cidr = blockCidrForAddress(pool, request.address);
    if (cidr === null) throw new TortieError('ERR_IPAM_NO_POOL', `address ${request.address} is not a valid address of pool ${pool.name}`);
    const name = blockName(cidr);
    let recorded = false;
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#ds.get<IpamBlockObject>(Kinds.IPAMBlock, name);
      let block = validBlock(stored);
      if (stored !== null && block === null) {
        throw new TortieError('ERR_VALIDATION', `IPAMBlock ${name} does not match its schema; IPAM will not write to it (see \`tortie get ipamblock ${name}\`)`);
      }
      if (block === null) {
        block = await this.claimBlock(request.node, cidr, pool.spec.strictAffinity ?? false);
        if (block === null) {
          // Created by another node meanwhile: read it again.
          await this.#afterConflict('IPAMBlock', name, attempt);
          continue;
        }
      }
      if (addressesOfHandle(block.spec, request.handleId).includes(request.address)) return;
      if (!recorded) {
        await this.#recordInHandle(request.handleId, cidr, 1);
        recorded = true;
      }
      const next = assignAddressInBlock(block.spec, request.address, request);
      if (next === null) {
        throw new TortieError('ERR_IPAM_ADDRESS_IN_USE', `address ${request.address} is already in use`, { details: { address: request.address } });
      }
      try {
        await this.#ds.update<IpamBlockObject>(Kinds.IPAMBlock, { ...block, spec: next });
        return;
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        await this.#afterConflict('IPAMBlock', name, attempt);
      }
    }
  }

  /**
   * Frees every address the handle holds, then deletes the handle. Returns
   * the addresses freed. A handle that does not exist is success with nothing
   * freed (CNI DEL must succeed when the allocation is already gone).
   */
  async releaseByHandle(handleId: string, readAhead?: ReleaseReads): Promise<string[]> {
    const name = handleObjectName(handleId);
    const released: string[] = [];
    // Read ahead (prepareRelease) serves the first round; a handle seen absent is read again, since absence ends the release.
    let ahead = readAhead?.handleId === handleId && readAhead.handle !== null ? readAhead : undefined;
    for (let attempt = 1; ; attempt++) {
      const handle = ahead?.handle ?? (await this.#ds.get<IpamHandleObject>(Kinds.IPAMHandle, name));
      if (handle === null) return released;
      const blocks = ahead?.blocks;
      ahead = undefined;
      const names = Object.keys(handle.spec.block).map(blockName);
      // Blocks are independent objects: free the handle's addresses in all of them at once.
      for (const freed of await Promise.all(names.map((n) => this.#releaseInBlock(n, handleId, blocks?.get(n))))) released.push(...freed);
      try {
        await this.#ds.delete(Kinds.IPAMHandle, name, undefined, { resourceVersion: handle.metadata.resourceVersion! });
        return released;
      } catch (err) {
        if (hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) return released;
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        // The handle named another block meanwhile: release that one too.
        await this.#afterConflict('IPAMHandle', name, attempt);
      }
    }
  }

  /**
   * The reads releaseByHandle starts with (the handle, then the blocks it names), with no write,
   * so a caller can overlap them with other work and pass them in. Stale by the time they are
   * used, they cost a lost compare-and-swap, never a wrong write.
   */
  async prepareRelease(handleId: string): Promise<ReleaseReads> {
    const handle = await this.getHandle(handleId);
    const names = handle === null ? [] : Object.keys(handle.spec.block).map(blockName);
    const blocks = await Promise.all(names.map((n) => this.#ds.get<IpamBlockObject>(Kinds.IPAMBlock, n)));
    return { handleId, handle, blocks: new Map(names.map((n, i) => [n, blocks[i] ?? null])) };
  }

  async #releaseInBlock(name: string, handleId: string, readAhead?: IpamBlockObject | null): Promise<string[]> {
    let ahead = readAhead;
    for (let attempt = 1; ; attempt++) {
      const stored = ahead !== undefined ? ahead : await this.#ds.get<IpamBlockObject>(Kinds.IPAMBlock, name);
      const wasAhead = ahead !== undefined;
      ahead = undefined;
      const block = validBlock(stored);
      if (stored !== null && block === null) {
        // Keep the handle: it is how this allocation can still be found once the block is repaired.
        throw new TortieError('ERR_VALIDATION', `IPAMBlock ${name} does not match its schema; cannot release ${handleId} from it (the handle is kept)`);
      }
      if (block === null) return [];
      const next = releaseFromBlock(block.spec, handleId);
      if (next.released.length === 0) return [];
      try {
        await this.#ds.update<IpamBlockObject>(Kinds.IPAMBlock, { ...block, spec: next.block });
        return next.released;
      } catch (err) {
        // A block read ahead may have been deleted since: read it again, as after any lost CAS.
        if (wasAhead && hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) continue;
        if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
        await this.#afterConflict('IPAMBlock', name, attempt);
      }
    }
  }

  async #afterConflict(kind: string, name: string, attempt: number): Promise<void> {
    this.#onConflict?.(kind, name, attempt);
    if (attempt >= this.#maxRetries) {
      throw new TortieError(
        'ERR_DATASTORE_CONFLICT',
        `${kind} ${name} kept changing under us (${attempt} compare-and-swap attempts); try again later`,
        { details: { kind, name, attempts: attempt } },
      );
    }
    if (this.#retryJitterMs > 0) await new Promise((r) => setTimeout(r, Math.random() * this.#retryJitterMs));
  }
}

const ANNOTATION_HINT = 'tortie.dev/ipAddrs must name addresses inside an existing IPPool';
