/**
 * Block IPAM, the pure core (STYLE.md §2: no I/O, same in ⇒ same out).
 *
 * The shapes are Calico's (libcalico-go `model.AllocationBlock`): a block is a
 * CIDR cut from a pool; `allocations[offset]` is the index of the attribute
 * that owns the address at that offset (null when free); `unallocated` lists
 * the free offsets in the order they will be handed out; `attributes` says who
 * holds an address (`handle_id`, and `secondary` for people: node, namespace,
 * pod, timestamp).
 *
 * Every address of a block is handed out, the network and broadcast addresses
 * of the pool included, as Calico does: pods are reached by /32 routes, never
 * by an L2 subnet, so `.0` and `.255` are ordinary addresses (Calico FAQ "Can
 * Calico containers use any IP address within a pool, even subnet
 * network/broadcast addresses?"; projectcalico/calico#1710, #2329, #3825).
 * `reserved` exists for callers that must keep some back (an IPReservation).
 *
 * Functions never mutate their input: they return a new block, which the
 * BlockStore writes with compare-and-swap.
 */
import { type Cidr, cidrContainsIp, formatCidr, formatIp, parseCidr, parseIp } from '../../../lib/cidr.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { parseSelector } from '../../../lib/selector/parse.js';
import type { Labels } from '../../../lib/selector/ast.js';

export interface AllocationAttribute {
  /** The IPAM handle (`<network>.<containerID>`) that owns the addresses pointing here. */
  handle_id: string | null;
  /** Who holds the address, for people and the garbage collector: node, namespace, pod, timestamp. */
  secondary: Record<string, string> | null;
}

/** `IPAMBlock.spec`, as Calico spells it. */
export interface IpamBlockSpec {
  cidr: string;
  /** `host:<node>` for a block claimed by a node, null for one that no node owns. */
  affinity: string | null;
  strictAffinity: boolean;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[];
  deleted: boolean;
  /** Calico's write counter: incremented by every change made here. */
  sequenceNumber?: number;
  /** Per offset (as a string), the sequenceNumber at which it was allocated (Calico guards releases with it). */
  sequenceNumberForAllocation?: Record<string, number>;
}

/** The sequence bookkeeping after allocating `taken` and freeing `freed` offsets. */
function sequenced(block: IpamBlockSpec, taken: readonly number[], freed: readonly number[]): Pick<IpamBlockSpec, 'sequenceNumber' | 'sequenceNumberForAllocation'> {
  const current = block.sequenceNumber ?? 0;
  const perOffset = { ...(block.sequenceNumberForAllocation ?? {}) };
  for (const o of freed) delete perOffset[String(o)];
  for (const o of taken) perOffset[String(o)] = current;
  return { sequenceNumber: current + 1, sequenceNumberForAllocation: perOffset };
}

/** What pool choice needs of an IPPool (`spec` as in crds/src/ip-pool.ts). */
export interface PoolInfo {
  name: string;
  spec: {
    cidr: string;
    /** Default 26 for IPv4, 122 for IPv6, as in Calico. */
    blockSize?: number;
    disabled?: boolean;
    nodeSelector?: string;
    allowedUses?: readonly string[];
    /** Not in Calico's IPPool (it lives in IPAMConfiguration there); honoured when set. */
    strictAffinity?: boolean;
  };
}

export interface AllocateRequest {
  handleId: string;
  attributes: Record<string, string> | null;
  /** How many addresses are wanted; fewer are returned when the block has fewer free. */
  count: number;
  /** Offsets that must never be handed out. */
  reserved?: ReadonlySet<number>;
}

export interface AllocateResult {
  block: IpamBlockSpec;
  /** Allocated addresses, as plain IP strings ("10.244.1.7"), in allocation order. */
  addresses: string[];
}

/** The affinity string Calico writes into a block: `host:<node>`. */
export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** Calico's `names.CIDRToName`: `10.244.1.0/26` → `10-244-1-0-26`, `fd00::/122` → `fd00---122`. */
export function blockName(cidr: string): string {
  return cidr.replace(/[.:/]/g, '-');
}

/** Calico's BlockAffinity name: `<node>-<blockName>`. */
export function affinityName(node: string, cidr: string): string {
  return `${node}-${blockName(cidr)}`;
}

/** The pool's block prefix length, with Calico's defaults (/26, /122). */
export function poolBlockSize(pool: PoolInfo, family: 4 | 6): number {
  return pool.spec.blockSize ?? (family === 4 ? 26 : 122);
}

/** Number of addresses in a block of this CIDR. */
export function blockSizeOf(cidr: Cidr): number {
  const hostBits = (cidr.family === 4 ? 32 : 128) - cidr.prefixLength;
  return 2 ** hostBits;
}

function mustParseCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if (cidr === null) throw new Error(`bug: block CIDR ${JSON.stringify(text)} does not parse`);
  return cidr;
}

/** A fresh, empty block. Its offsets are handed out in ascending order. */
export function newBlock(cidr: string, affinityNode: string | null, strictAffinity = false): IpamBlockSpec {
  const parsed = mustParseCidr(cidr);
  const size = blockSizeOf(parsed);
  return {
    cidr: formatCidr(parsed),
    affinity: affinityNode === null ? null : hostAffinity(affinityNode),
    strictAffinity,
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    deleted: false,
    sequenceNumber: 0,
    sequenceNumberForAllocation: {},
  };
}

function sameSecondary(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  if (a === null || b === null) return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** Index of an attribute equal to this one, appending it when there is none (Calico's `findOrAddAttribute`). */
function findOrAddAttribute(attributes: AllocationAttribute[], handleId: string, secondary: Record<string, string> | null): number {
  const found = attributes.findIndex((a) => a.handle_id === handleId && sameSecondary(a.secondary, secondary));
  if (found >= 0) return found;
  attributes.push({ handle_id: handleId, secondary: secondary === null ? null : { ...secondary } });
  return attributes.length - 1;
}

/** Drops attributes no allocation points to, renumbering the allocations (Calico's `deleteUnusedAttributes`). */
function compactAttributes(block: IpamBlockSpec): IpamBlockSpec {
  const used = new Set<number>();
  for (const a of block.allocations) if (a !== null) used.add(a);
  if (used.size === block.attributes.length) return block;
  const renumber = new Map<number, number>();
  const attributes: AllocationAttribute[] = [];
  block.attributes.forEach((attr, i) => {
    if (used.has(i)) {
      renumber.set(i, attributes.length);
      attributes.push(attr);
    }
  });
  return {
    ...block,
    attributes,
    allocations: block.allocations.map((a) => (a === null ? null : (renumber.get(a) ?? null))),
  };
}

/** The address at an offset of a block, as a plain IP string. */
export function addressAt(block: IpamBlockSpec, offset: number): string {
  const cidr = mustParseCidr(block.cidr);
  return formatIp(cidr.family, cidr.network + BigInt(offset));
}

/** The offset of an address in a block, or null when the block does not contain it. */
export function offsetOf(block: IpamBlockSpec, address: string): number | null {
  const cidr = mustParseCidr(block.cidr);
  const ip = parseIp(address);
  if (ip === null || ip.family !== cidr.family || !cidrContainsIp(cidr, ip.family, ip.value)) return null;
  return Number(ip.value - cidr.network);
}

/**
 * Takes up to `count` free addresses, in `unallocated` order, for a handle.
 * Returns null when the block has no free address (reserved ones excepted);
 * otherwise the new block and the addresses, possibly fewer than asked.
 */
export function allocateFromBlock(block: IpamBlockSpec, request: AllocateRequest): AllocateResult | null {
  if (request.count <= 0) return { block, addresses: [] };
  const reserved = request.reserved ?? new Set<number>();
  const take: number[] = [];
  for (const offset of block.unallocated) {
    if (take.length >= request.count) break;
    if (!reserved.has(offset) && block.allocations[offset] === null) take.push(offset);
  }
  if (take.length === 0) return null;
  const attributes = block.attributes.map((a) => ({ ...a }));
  const attrIndex = findOrAddAttribute(attributes, request.handleId, request.attributes);
  const allocations = block.allocations.slice();
  for (const offset of take) allocations[offset] = attrIndex;
  const taken = new Set(take);
  const next: IpamBlockSpec = {
    ...block,
    attributes,
    allocations,
    unallocated: block.unallocated.filter((o) => !taken.has(o)),
    ...sequenced(block, take, []),
  };
  return { block: next, addresses: take.map((o) => addressAt(block, o)) };
}

/**
 * Takes one given address for a handle (`tortie.dev/ipAddrs`). Returns null
 * when the address is outside the block or already held by anyone, this
 * handle included (the caller checks for its own holdings first).
 */
export function assignAddressInBlock(
  block: IpamBlockSpec,
  address: string,
  request: { handleId: string; attributes: Record<string, string> | null },
): IpamBlockSpec | null {
  const offset = offsetOf(block, address);
  if (offset === null || block.allocations[offset] !== null) return null;
  const attributes = block.attributes.map((a) => ({ ...a }));
  const attrIndex = findOrAddAttribute(attributes, request.handleId, request.attributes);
  const allocations = block.allocations.slice();
  allocations[offset] = attrIndex;
  return { ...block, attributes, allocations, unallocated: block.unallocated.filter((o) => o !== offset), ...sequenced(block, [offset], []) };
}

/** Addresses of a block held by a handle, in offset order. */
export function addressesOfHandle(block: IpamBlockSpec, handleId: string): string[] {
  const out: string[] = [];
  block.allocations.forEach((a, offset) => {
    if (a !== null && block.attributes[a]?.handle_id === handleId) out.push(addressAt(block, offset));
  });
  return out;
}

/**
 * Frees every address a handle holds in this block. Freed offsets go to the
 * end of `unallocated`, so an address just released is the last to be reused
 * (as in Calico: a stale connection to a dead pod does not reach a new one).
 */
export function releaseFromBlock(block: IpamBlockSpec, handleId: string): { block: IpamBlockSpec; released: string[] } {
  const freed: number[] = [];
  const allocations = block.allocations.map((a, offset) => {
    if (a !== null && block.attributes[a]?.handle_id === handleId) {
      freed.push(offset);
      return null;
    }
    return a;
  });
  if (freed.length === 0) return { block, released: [] };
  const next = compactAttributes({ ...block, allocations, unallocated: [...block.unallocated, ...freed], ...sequenced(block, [], freed) });
  return { block: next, released: freed.map((o) => addressAt(block, o)) };
}

/**
 * Frees one address. With `handleId`, only if that handle holds it. Returns
 * null when the address is not allocated (or held by another handle).
 */
export function releaseAddress(block: IpamBlockSpec, address: string, handleId?: string): IpamBlockSpec | null {
  const offset = offsetOf(block, address);
  if (offset === null) return null;
  const attr = block.allocations[offset];
  if (attr === null || attr === undefined) return null;
  if (handleId !== undefined && block.attributes[attr]?.handle_id !== handleId) return null;
  const allocations = block.allocations.slice();
  allocations[offset] = null;
  return compactAttributes({ ...block, allocations, unallocated: [...block.unallocated, offset], ...sequenced(block, [], [offset]) });
}

/** The block, among these, whose CIDR contains the address. */
export function blockForAddress<B extends { cidr: string }>(blocks: readonly B[], address: string): B | undefined {
  const ip = parseIp(address);
  if (ip === null) return undefined;
  return blocks.find((b) => {
    const cidr = parseCidr(b.cidr);
    return cidr !== null && cidr.family === ip.family && cidrContainsIp(cidr, ip.family, ip.value);
  });
}

/** The CIDR of the block of a pool that contains an address (whether that block exists or not). */
export function blockCidrForAddress(pool: PoolInfo, address: string): string | null {
  const poolCidr = parseCidr(pool.spec.cidr);
  const ip = parseIp(address);
  if (poolCidr === null || ip === null || ip.family !== poolCidr.family || !cidrContainsIp(poolCidr, ip.family, ip.value)) return null;
  const bits = poolCidr.family === 4 ? 32 : 128;
  const blockSize = poolBlockSize(pool, poolCidr.family);
  const hostBits = BigInt(bits - blockSize);
  const network = (ip.value >> hostBits) << hostBits;
  return formatCidr({ family: poolCidr.family, network, prefixLength: blockSize });
}

/** Number of free addresses in a block. */
export function freeCount(block: IpamBlockSpec): number {
  return block.unallocated.length;
}

/**
 * The first block of the pool that no existing block occupies, or null when
 * every block of the pool exists. Linear in the number of existing blocks,
 * whatever the pool's size (an IPv6 /64 has 2^58 blocks of /122).
 */
export function chooseBlockToClaim(pool: PoolInfo, existingBlocks: readonly { cidr: string }[]): string | null {
  const poolCidr = parseCidr(pool.spec.cidr);
  if (poolCidr === null) return null;
  const bits = poolCidr.family === 4 ? 32 : 128;
  const blockSize = poolBlockSize(pool, poolCidr.family);
  if (blockSize < poolCidr.prefixLength || blockSize > bits) return null;
  const taken = new Set<bigint>();
  for (const b of existingBlocks) {
    const c = parseCidr(b.cidr);
    if (c !== null && c.family === poolCidr.family && c.prefixLength === blockSize) taken.add(c.network);
  }
  const step = 1n << BigInt(bits - blockSize);
  const count = 1n << BigInt(blockSize - poolCidr.prefixLength);
  for (let i = 0n; i < count; i++) {
    const network = poolCidr.network + i * step;
    if (!taken.has(network)) return formatCidr({ family: poolCidr.family, network, prefixLength: blockSize });
  }
  return null;
}

export interface RequestedPools {
  /** Pool names or CIDRs from `tortie.dev/ipv4pools` (in order of preference). */
  ipv4?: readonly string[];
  /** Pool names or CIDRs from `tortie.dev/ipv6pools`. */
  ipv6?: readonly string[];
}

export type SelectPoolsResult<P extends PoolInfo> =
  | { ok: true; ipv4: P[]; ipv6: P[] }
  | { ok: false; reason: string };

function poolFamily(pool: PoolInfo): 4 | 6 | null {
  return parseCidr(pool.spec.cidr)?.family ?? null;
}

function allowsWorkloads(pool: PoolInfo): boolean {
  return pool.spec.allowedUses === undefined || pool.spec.allowedUses.includes('Workload');
}

function selectsNode(pool: PoolInfo, nodeLabels: Labels): boolean {
  const text = pool.spec.nodeSelector;
  if (text === undefined || text.trim() === '') return true;
  const parsed = parseSelector(text);
  // A pool whose selector does not parse selects no node: it was accepted by
  // nothing that validates (crds/ rejects it), so it is treated as absent.
  return parsed.ok && matchSelector(parsed.selector, nodeLabels);
}

/**
 * Which pools a pod on this node may take addresses from, per family.
 * Disabled pools and pools not for workloads are never used; a pool's
 * `nodeSelector` must select the node. Without a request, every such pool
 * qualifies (in the order given); with one, exactly the named pools (by name
 * or CIDR) in the order named, and naming one that does not exist, is
 * disabled or does not select this node is an error (as in Calico).
 */
export function selectPools<P extends PoolInfo>(
  pools: readonly P[],
  nodeLabels: Labels,
  requested: RequestedPools = {},
): SelectPoolsResult<P> {
  const usable = (p: P) => p.spec.disabled !== true && allowsWorkloads(p) && selectsNode(p, nodeLabels);
  const pick = (family: 4 | 6, names: readonly string[] | undefined): P[] | string => {
    if (names === undefined || names.length === 0) return pools.filter((p) => poolFamily(p) === family && usable(p));
    const out: P[] = [];
    for (const name of names) {
      const normalized = parseCidr(name);
      const pool = pools.find(
        (p) => p.name === name || (normalized !== null && parseCidr(p.spec.cidr) !== null && formatCidr(normalized) === formatCidr(parseCidr(p.spec.cidr)!)),
      );
      if (pool === undefined) return `the requested IPv${family} pool ${JSON.stringify(name)} does not exist`;
      if (poolFamily(pool) !== family) return `the requested IPv${family} pool ${JSON.stringify(name)} is an IPv${poolFamily(pool)} pool`;
      if (pool.spec.disabled === true) return `the requested IPv${family} pool ${JSON.stringify(name)} is disabled`;
      if (!allowsWorkloads(pool)) return `the requested IPv${family} pool ${JSON.stringify(name)} does not allow workloads (allowedUses)`;
      if (!selectsNode(pool, nodeLabels)) return `the requested IPv${family} pool ${JSON.stringify(name)} does not select this node (nodeSelector ${JSON.stringify(pool.spec.nodeSelector)})`;
      if (!out.includes(pool)) out.push(pool);
    }
    return out;
  };
  const ipv4 = pick(4, requested.ipv4);
  if (typeof ipv4 === 'string') return { ok: false, reason: ipv4 };
  const ipv6 = pick(6, requested.ipv6);
  if (typeof ipv6 === 'string') return { ok: false, reason: ipv6 };
  return { ok: true, ipv4, ipv6 };
}

/** The pool, among these, whose CIDR contains the address. */
export function poolForAddress<P extends PoolInfo>(pools: readonly P[], address: string): P | undefined {
  const ip = parseIp(address);
  if (ip === null) return undefined;
  return pools.find((p) => {
    const c = parseCidr(p.spec.cidr);
    return c !== null && c.family === ip.family && cidrContainsIp(c, ip.family, ip.value);
  });
}
