/**
 * ADD: addresses from block IPAM (or a delegated IPAM plugin), the veth pair and routes, the
 * WorkloadEndpoint, and the result. Undoes in reverse on failure (STYLE.md
 * §6): delete the veth, then release the addresses, then report.
 */
import { parseCidr } from '../../../lib/cidr.js';
import { POD_GATEWAY_IPV4, POD_GATEWAY_IPV6 } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { TortieError, hasErrorCode } from '../../../lib/errors.js';
import { readUplinkMtu } from '../../../lib/kernel/ip.js';
import { attachWorkload, undoPlan } from '../attach.js';
import { CniError, CniErrorCodes } from '../errors.js';
import { selectPools, type PoolInfo } from '../ipam/allocate.js';
import { BlockStore } from '../ipam/block-store.js';
import { ENCAPSULATION_OVERHEAD, planAttachment, resolveMtu, type AttachmentPlan, type PodAddress } from '../plan.js';
import type { CniRequest } from '../request.js';
import { buildResult, type CniDns, type CniResult, type CniRoute } from '../result.js';
import type { CniDeps } from './deps.js';
import { execIpamPlugin } from './ipam-delegate.js';
import {
  buildWorkloadEndpoint,
  handleIdOf,
  workloadOf,
  type WorkloadEndpointObject,
  type WorkloadIdentity,
} from './workload.js';

interface IpPoolObject extends StoredObject {
  spec: PoolInfo['spec'] & { ipipMode?: string; vxlanMode?: string };
}

/** Overhead of the pools' encapsulation: VXLAN if any pool uses it, else IPIP if any does, else none. */
export function encapsulationOverheadOf(pools: readonly IpPoolObject['spec'][]): number {
  const uses = (mode: string | undefined) => mode !== undefined && mode !== 'Never';
  if (pools.some((p) => uses(p.vxlanMode))) return ENCAPSULATION_OVERHEAD.vxlan;
  if (pools.some((p) => uses(p.ipipMode))) return ENCAPSULATION_OVERHEAD.ipip;
  return ENCAPSULATION_OVERHEAD.none;
}

interface Assigned {
  addresses: PodAddress[];
  /** The pools the addresses may come from (none for a delegated plugin). */
  pools: IpPoolObject[];
  /** DNS settings a delegated IPAM plugin returned, passed on in our result. */
  dns: CniDns;
}

/** Addresses from a delegated IPAM plugin (host-local...), used as /32 and /128 whatever prefix it gave. */
async function assignByPlugin(req: CniRequest, deps: CniDeps): Promise<Assigned> {
  const result = await execIpamPlugin(req, 'ADD', deps.runPlugin);
  const addresses: PodAddress[] = (result?.ips ?? []).map((ip) => {
    const c = parseCidr(ip.address);
    if (c === null) throw new CniError(CniErrorCodes.DecodingFailure, `${req.config.ipam?.type} returned ${JSON.stringify(ip.address)}, not an address with a prefix`);
    return c.family === 4
      ? { family: 4, address: ip.address.split('/')[0] ?? '', prefixLength: 32 }
      : { family: 6, address: ip.address.split('/')[0] ?? '', prefixLength: 128 };
  });
  if (addresses.length === 0) throw new CniError(CniErrorCodes.DecodingFailure, `${req.config.ipam?.type} returned no address`);
  return { addresses, pools: [], dns: result?.dns ?? {} };
}

async function assignAddresses(req: CniRequest, deps: CniDeps, w: WorkloadIdentity, store: BlockStore): Promise<Assigned> {
  const ipam = req.ipam;
  if (ipam === null) return assignByPlugin(req, deps);
  const pools = (await deps.datastore.list<IpPoolObject>(Kinds.IPPool)).items;
  const node = await deps.datastore.get(Kinds.Node, deps.nodeName);
  const selected = selectPools(
    pools.map((p) => ({ ...p, name: p.metadata.name })),
    node?.metadata.labels ?? {},
    { ...(ipam.ipv4_pools ? { ipv4: ipam.ipv4_pools } : {}), ...(ipam.ipv6_pools ? { ipv6: ipam.ipv6_pools } : {}) },
  );
  if (!selected.ok) throw new TortieError('ERR_IPAM_NO_POOL', selected.reason);
  const usable = [...(ipam.assign_ipv4 ? selected.ipv4 : []), ...(ipam.assign_ipv6 ? selected.ipv6 : [])];
  const got = await store.autoAssign({
    handleId: handleIdOf(w),
    node: deps.nodeName,
    pools: usable,
    num4: ipam.assign_ipv4 ? 1 : 0,
    num6: ipam.assign_ipv6 ? 1 : 0,
    attributes: {
      node: deps.nodeName,
      ...(w.podNamespace === null ? {} : { namespace: w.podNamespace }),
      ...(w.podName === null ? {} : { pod: w.podName }),
      timestamp: new Date().toISOString(),
    },
    ...(ipam.strict_affinity === undefined ? {} : { strictAffinity: ipam.strict_affinity }),
    ...(ipam.max_blocks_per_host === undefined ? {} : { maxBlocksPerHost: ipam.max_blocks_per_host }),
  });
  const addresses: PodAddress[] = [
    ...got.ipv4.map((address) => ({ family: 4 as const, address, prefixLength: 32 as const })),
    ...got.ipv6.map((address) => ({ family: 6 as const, address, prefixLength: 128 as const })),
  ];
  return { addresses, pools: usable, dns: {} };
}

async function writeWorkloadEndpoint(deps: CniDeps, wep: WorkloadEndpointObject): Promise<void> {
  const existing = await deps.datastore.get<WorkloadEndpointObject>(Kinds.WorkloadEndpoint, wep.metadata.name, wep.metadata.namespace);
  if (existing === null) {
    try {
      await deps.datastore.create(Kinds.WorkloadEndpoint, wep);
      return;
    } catch (err) {
      // Another ADD of the same pod created it between our get and create: overwrite below.
      if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
    }
  }
  const current = existing ?? (await deps.datastore.get<WorkloadEndpointObject>(Kinds.WorkloadEndpoint, wep.metadata.name, wep.metadata.namespace));
  await deps.datastore.update(Kinds.WorkloadEndpoint, {
    ...wep,
    metadata: { ...wep.metadata, ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}) },
  });
}

export function resultOf(plan: AttachmentPlan, dns: CniDns = {}): CniResult {
  const routes: CniRoute[] = [];
  if (plan.addresses.some((a) => a.family === 4)) routes.push({ dst: '0.0.0.0/0', gw: POD_GATEWAY_IPV4 });
  if (plan.addresses.some((a) => a.family === 6)) routes.push({ dst: '::/0', gw: POD_GATEWAY_IPV6 });
  return buildResult({
    interfaces: [
      { name: plan.hostIfName, mac: plan.hostMac, mtu: plan.mtu },
      { name: plan.podIfName, mac: plan.podMac, mtu: plan.mtu, sandbox: plan.netns.path },
    ],
    ips: plan.addresses.map((a) => ({ address: `${a.address}/${a.prefixLength}`, interface: 1 })),
    routes,
    dns,
  });
}

export async function cmdAdd(req: CniRequest, deps: CniDeps): Promise<CniResult> {
  const w = workloadOf(req);
  const log = deps.log.child({ command: 'ADD', containerId: w.containerId, pod: w.podName, namespace: w.podNamespace });
  const store = new BlockStore(deps.datastore);
  const handleId = handleIdOf(w);
  // Set once the datapath is up: a later failure must take it down again
  // (attachWorkload cleans up after its own failures).
  let attached: AttachmentPlan | null = null;
  try {
    const { addresses, pools, dns } = await assignAddresses(req, deps, w, store);
    const mtu = resolveMtu({
      configuredMtu: req.config.mtu,
      uplinkMtu: req.config.mtu > 0 ? null : await readUplinkMtu(deps.runners.ip),
      encapsulationOverhead: encapsulationOverheadOf(pools.map((p) => p.spec)),
    });
    const plan = planAttachment({
      containerId: w.containerId,
      podNamespace: w.podNamespace,
      podName: w.podName,
      ifName: w.ifName,
      netnsPath: req.netns ?? '',
      addresses,
      mtu,
    });
    const outcome = await attachWorkload(plan, deps.runners);
    attached = plan;
    log.debug({ outcome, hostIfName: plan.hostIfName, addresses: addresses.map((a) => a.address) }, 'datapath attached');
    if (deps.datastore.type === 'etcdv3') {
      // In Kubernetes mode the Pod is the record (Calico derives endpoints from Pods); writing pod annotations is not wired yet.
      await writeWorkloadEndpoint(deps, buildWorkloadEndpoint(deps.nodeName, w, plan));
    }
    log.info({ hostIfName: plan.hostIfName, addresses: addresses.map((a) => a.address), mtu }, 'pod attached');
    return resultOf(plan, dns);
  } catch (err) {
    // Undo in reverse: the veth (and its routes) first, then the addresses.
    if (attached !== null) {
      const hostIfName = attached.hostIfName;
      await undoPlan(attached, deps.runners).catch((undoErr: unknown) =>
        log.error({ err: undoErr, hostIfName }, 'could not remove the veth of a failed ADD'),
      );
    }
    const release = req.ipam === null ? execIpamPlugin(req, 'DEL', deps.runPlugin) : store.releaseByHandle(handleId);
    await release.catch((releaseErr: unknown) => log.error({ err: releaseErr, handleId }, 'could not release the addresses of a failed ADD'));
    throw err;
  }
}
