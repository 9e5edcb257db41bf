/**
 * The node's tunnel device addresses, as calico/node allocates them at start:
 * when an enabled IPv4 pool that selects this node (and allows `Tunnel` use)
 * asks for VXLAN or IPIP, the node takes one address of its own block under
 * the handle `vxlan-tunnel-addr-<node>` / `ipip-tunnel-addr-<node>` and
 * records it in its Node (`ipv4VXLANTunnelAddr` with `vxlanTunnelMACAddr`,
 * `bgp.ipv4IPIPTunnelAddr`), where the other nodes' speakers read it. When no
 * pool asks any more, the address is released and the field removed.
 *
 * Crash safety: the address is recorded under its handle before the Node
 * names it, and the allocation is idempotent per handle, so a start that dies
 * in between finds and reuses the same address.
 */
import { vtepMacOf } from '../../../bgp-speaker/src/program/tunnels.js';
import type { PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { BlockStore } from '../../../cni/src/ipam/block-store.js';
import { cidrContainsIp, parseCidr, parseIp } from '../../../lib/cidr.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { hasErrorCode } from '../../../lib/errors.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { parseSelector } from '../../../lib/selector/parse.js';

export type TunnelKind = 'vxlan' | 'ipip';

export interface TunnelAddressPlan {
  readonly kind: TunnelKind;
  readonly handleId: string;
  /** The pools the address must come from: empty when no pool asks for this tunnel. */
  readonly pools: readonly PoolInfo[];
  /** The address the Node names now, if any. */
  readonly current: string | null;
  /** allocate: take (or find) the handle's address and name it; release: free it and clear the field; keep: nothing to do. */
  readonly action: 'allocate' | 'release' | 'keep';
}

interface PoolObject extends StoredObject {
  spec?: { cidr?: string; blockSize?: number; disabled?: boolean; nodeSelector?: string; allowedUses?: string[]; ipipMode?: string; vxlanMode?: string };
}
interface NodeObject extends StoredObject {
  spec?: { ipv4VXLANTunnelAddr?: string; vxlanTunnelMACAddr?: string; bgp?: { ipv4IPIPTunnelAddr?: string; [field: string]: unknown }; [field: string]: unknown };
}

export function tunnelHandleId(kind: TunnelKind, nodeName: string): string {
  return `${kind}-tunnel-addr-${nodeName}`;
}

function selectsNode(selector: string | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined || selector.trim() === '') return true;
  const parsed = parseSelector(selector);
  return parsed.ok && matchSelector(parsed.selector, labels);
}

function currentAddress(node: NodeObject | null, kind: TunnelKind): string | null {
  return (kind === 'vxlan' ? node?.spec?.ipv4VXLANTunnelAddr : node?.spec?.bgp?.ipv4IPIPTunnelAddr) ?? null;
}

/** Pure: per tunnel kind, which pools ask for it on this node and what to do about the Node's address. */
export function planTunnelAddresses(nodeName: string, node: NodeObject | null, pools: readonly PoolObject[]): TunnelAddressPlan[] {
  const labels = node?.metadata.labels ?? {};
  return (['vxlan', 'ipip'] as const).map((kind) => {
    const asking = pools
      .filter((p) => {
        const spec = p.spec ?? {};
        const mode = kind === 'vxlan' ? spec.vxlanMode : spec.ipipMode;
        return (
          typeof spec.cidr === 'string' &&
          parseCidr(spec.cidr)?.family === 4 &&
          mode !== undefined &&
          mode !== 'Never' &&
          spec.disabled !== true &&
          (spec.allowedUses?.includes('Tunnel') ?? true) &&
          selectsNode(spec.nodeSelector, labels)
        );
      })
      .map((p): PoolInfo => ({ name: p.metadata.name, spec: { cidr: p.spec!.cidr!, ...(p.spec?.blockSize === undefined ? {} : { blockSize: p.spec.blockSize }) } }));
    const current = currentAddress(node, kind);
    const ip = current === null ? null : parseIp(current);
    const isInAskingPool = ip !== null && asking.some((p) => {
      const c = parseCidr(p.spec.cidr);
      return c !== null && cidrContainsIp(c, ip.family, ip.value);
    });
    const action = asking.length === 0 ? (current === null ? 'keep' : 'release') : isInAskingPool ? 'keep' : 'allocate';
    return { kind, handleId: tunnelHandleId(kind, nodeName), pools: asking, current, action };
  });
}

function withTunnelAddress(node: NodeObject, kind: TunnelKind, address: string | null): NodeObject {
  const spec = { ...(node.spec ?? {}) };
  if (kind === 'vxlan') {
    if (address === null) {
      delete spec.ipv4VXLANTunnelAddr;
      delete spec.vxlanTunnelMACAddr;
    } else {
      spec.ipv4VXLANTunnelAddr = address;
      spec.vxlanTunnelMACAddr = spec.vxlanTunnelMACAddr ?? vtepMacOf(node.metadata.name);
    }
  } else {
    const bgp = { ...(spec.bgp ?? {}) };
    if (address === null) delete bgp.ipv4IPIPTunnelAddr;
    else bgp.ipv4IPIPTunnelAddr = address;
    spec.bgp = bgp;
  }
  return { ...node, spec };
}

export interface TunnelAddressOutcome {
  readonly kind: TunnelKind;
  readonly address: string | null;
  readonly action: TunnelAddressPlan['action'];
}

/**
 * Reads the Node and the pools, allocates or releases, and writes the Node;
 * a Node changed meanwhile by someone else is read and planned again.
 */
export async function ensureTunnelAddresses(datastore: Datastore, nodeName: string, store: BlockStore = new BlockStore(datastore)): Promise<TunnelAddressOutcome[]> {
  for (let attempt = 1; ; attempt++) {
    const [node, pools] = await Promise.all([datastore.get<NodeObject>(Kinds.Node, nodeName), datastore.list<PoolObject>(Kinds.IPPool)]);
    if (node === null) return [];
    let next = node;
    const outcomes: TunnelAddressOutcome[] = [];
    for (const plan of planTunnelAddresses(nodeName, node, pools.items)) {
      if (plan.action === 'allocate') {
        const assigned = await store.autoAssign({ handleId: plan.handleId, node: nodeName, pools: plan.pools, num4: 1, num6: 0, attributes: { node: nodeName, type: `${plan.kind}TunnelAddress` } });
        const address = assigned.ipv4[0] ?? null;
        next = withTunnelAddress(next, plan.kind, address);
        outcomes.push({ kind: plan.kind, address, action: 'allocate' });
      } else if (plan.action === 'release') {
        await store.releaseByHandle(plan.handleId);
        next = withTunnelAddress(next, plan.kind, null);
        outcomes.push({ kind: plan.kind, address: null, action: 'release' });
      } else outcomes.push({ kind: plan.kind, address: plan.current, action: 'keep' });
    }
    if (next === node) return outcomes;
    try {
      await datastore.update(Kinds.Node, next);
      return outcomes;
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') || attempt >= 5) throw err;
    }
  }
}
