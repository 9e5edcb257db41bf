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
import type { Logger } from '../../../lib/log.js';
import { attachWorkload, undoPlan } from '../attach.js';
import { CniError, CniErrorCodes } from '../errors.js';
import { poolForAddress, type PoolInfo } from '../ipam/allocate.js';
import { planIpam } from '../ipam/plan.js';
import { waitForPolicy } from '../policy-wait.js';
import { BlockStore } from '../ipam/block-store.js';
import { ENCAPSULATION_OVERHEAD, planAttachment, resolveMtu, type AttachmentPlan, type PodAddress } from '../plan.js';
import type { CniRequest } from '../request.js';
import { buildResult, type CniDns, type CniResult, type CniRoute } from '../result.js';
import type { CniDeps } from './deps.js';
import { execIpamPlugin } from './ipam-delegate.js';
import { readPodContext, recordPodAddresses, recordedAddressesWithin, type PodContext } from './pod.js';
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

/** The node's labels, which pools' nodeSelectors match: the Kubernetes Node in Kubernetes mode, tortie's Node in etcd mode. */
async function nodeLabelsOf(deps: CniDeps): Promise<Record<string, string>> {
  const kind = deps.datastore.type === 'kubernetes' ? Kinds.K8sNode : Kinds.Node;
  return (await deps.datastore.get(kind, deps.nodeName))?.metadata.labels ?? {};
}

/** What block IPAM chooses pools from, besides the pod: every IPPool and the node's labels. */
interface PoolChoiceInputs {
  pools: IpPoolObject[];
  nodeLabels: Record<string, string>;
}

async function readPoolChoiceInputs(deps: CniDeps): Promise<PoolChoiceInputs> {
  const [pools, nodeLabels] = await Promise.all([deps.datastore.list<IpPoolObject>(Kinds.IPPool), nodeLabelsOf(deps)]);
  return { pools: pools.items, nodeLabels };
}

/**
 * Block IPAM, with the pool choice of cni/src/ipam/plan.ts: the pod's
 * annotations, then its namespace's, then the config's pool lists, then every
 * pool that selects the node; `tortie.dev/ipAddrs` takes exactly those addresses.
 * `inputs` is null for a delegated IPAM plugin.
 */
async function assignAddresses(
  req: CniRequest,
  deps: CniDeps,
  w: WorkloadIdentity,
  store: BlockStore,
  context: PodContext,
  inputs: PoolChoiceInputs | null,
): Promise<Assigned> {
  const ipam = req.ipam;
  if (ipam === null || inputs === null) return assignByPlugin(req, deps);
  const { pools, nodeLabels } = inputs;
  const plan = planIpam({
    assignIpv4: ipam.assign_ipv4,
    assignIpv6: ipam.assign_ipv6,
    ...(ipam.ipv4_pools === undefined ? {} : { configIpv4Pools: ipam.ipv4_pools }),
    ...(ipam.ipv6_pools === undefined ? {} : { configIpv6Pools: ipam.ipv6_pools }),
    podAnnotations: context.podAnnotations,
    namespaceAnnotations: context.namespaceAnnotations,
    pools: pools.map((p) => ({ ...p, name: p.metadata.name })),
    nodeLabels,
  });
  if (!plan.ok) {
    if (plan.field === 'pools') throw new TortieError('ERR_IPAM_NO_POOL', plan.reason);
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, `${plan.field}: ${plan.reason}`);
  }
  const handleId = handleIdOf(w);
  const attributes = {
    node: deps.nodeName,
    ...(w.podNamespace === null ? {} : { namespace: w.podNamespace }),
    ...(w.podName === null ? {} : { pod: w.podName }),
    timestamp: new Date().toISOString(),
  };
  if (plan.kind === 'addresses') {
    const addresses: PodAddress[] = [];
    const used: IpPoolObject[] = [];
    for (const address of plan.addresses) {
      await store.assignIp({ handleId, node: deps.nodeName, address, pools: plan.pools, attributes });
      const pool = poolForAddress(plan.pools, address);
      if (pool !== undefined) used.push(pool);
      addresses.push(address.includes(':') ? { family: 6, address, prefixLength: 128 } : { family: 4, address, prefixLength: 32 });
    }
    return { addresses, pools: used, dns: {} };
  }
  const got = await store.autoAssign({
    handleId,
    node: deps.nodeName,
    pools: plan.pools,
    num4: plan.num4,
    num6: plan.num6,
    attributes,
    ...(ipam.strict_affinity === undefined ? {} : { strictAffinity: ipam.strict_affinity }),
    ...(ipam.max_blocks_per_host === undefined ? {} : { maxBlocksPerHost: ipam.max_blocks_per_host }),
  });
  const addresses: PodAddress[] = [
    ...got.ipv4.map((address) => ({ family: 4 as const, address, prefixLength: 32 as const })),
    ...got.ipv6.map((address) => ({ family: 6 as const, address, prefixLength: 128 as const })),
  ];
  return { addresses, pools: plan.pools, dns: {} };
}

/** Creates the endpoint, or overwrites the one a retried ADD or an earlier sandbox of the pod left (read only then); returns what is stored. */
async function writeWorkloadEndpoint(deps: CniDeps, wep: WorkloadEndpointObject): Promise<WorkloadEndpointObject> {
  try {
    return await deps.datastore.create(Kinds.WorkloadEndpoint, wep);
  } catch (err) {
    if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
  }
  const current = await deps.datastore.get<WorkloadEndpointObject>(Kinds.WorkloadEndpoint, wep.metadata.name, wep.metadata.namespace);
  // Carrying uid and creationTimestamp over spares the backend reading the object again.
  const { resourceVersion, uid, creationTimestamp } = current?.metadata ?? {};
  return deps.datastore.update(Kinds.WorkloadEndpoint, {
    ...wep,
    metadata: {
      ...wep.metadata,
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(uid === undefined ? {} : { uid }),
      ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
    },
  });
}

/** What ADD wrote to say where the pod is, so that a failed ADD can take it back. */
type WorkloadRecord =
  | { kind: 'endpoint'; stored: WorkloadEndpointObject }
  | { kind: 'pod-annotations'; namespace: string; name: string; addresses: ReadonlySet<string> }
  | { kind: 'none' };

/**
 * The record of the pod's addresses: the WorkloadEndpoint (etcd mode) or, in Kubernetes mode, the
 * Pod itself (as in Calico), whose annotations say its addresses before the kubelet reports them.
 */
async function recordWorkload(deps: CniDeps, w: WorkloadIdentity, plan: AttachmentPlan, context: PodContext, log: Logger): Promise<WorkloadRecord> {
  if (deps.datastore.type === 'etcdv3') {
    return { kind: 'endpoint', stored: await writeWorkloadEndpoint(deps, buildWorkloadEndpoint(deps.nodeName, w, plan, context.pod)) };
  }
  if (w.podName === null || w.podNamespace === null) return { kind: 'none' };
  const cidrs = plan.addresses.map((a) => `${a.address}/${a.prefixLength}`);
  if (!(await recordPodAddresses(deps.datastore, w.podNamespace, w.podName, cidrs))) {
    log.warn({ addresses: cidrs }, 'the Pod does not exist in the API server; its addresses are not recorded on it');
    return { kind: 'none' };
  }
  return { kind: 'pod-annotations', namespace: w.podNamespace, name: w.podName, addresses: new Set(plan.addresses.map((a) => a.address)) };
}

/** Takes back what recordWorkload wrote, unless someone (a new sandbox of the pod) has written over it since. */
async function unrecordWorkload(deps: CniDeps, record: WorkloadRecord): Promise<void> {
  switch (record.kind) {
    case 'endpoint': {
      const { name, namespace, resourceVersion } = record.stored.metadata;
      try {
        await deps.datastore.delete(Kinds.WorkloadEndpoint, name, namespace, resourceVersion === undefined ? {} : { resourceVersion });
      } catch (err) {
        // Gone already, or replaced by another ADD of the pod: either way no longer ours to remove.
        if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND') && !hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
      }
      return;
    }
    case 'pod-annotations':
      await recordPodAddresses(deps.datastore, record.namespace, record.name, null, (annotations) => recordedAddressesWithin(annotations, record.addresses));
      return;
    case 'none':
      return;
  }
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
  const store = deps.blockStore ?? new BlockStore(deps.datastore);
  const handleId = handleIdOf(w);
  // Set once the datapath is up: a later failure must take it down again
  // (attachWorkload cleans up after its own failures).
  let attached: AttachmentPlan | null = null;
  let recorded: WorkloadRecord = { kind: 'none' };
  try {
    // Independent reads, one round trip: the pod (and its namespace), the pools and the node's
    // labels; beside them, the uplink's MTU when the config leaves it to us.
    const [context, inputs, uplinkMtu] = await Promise.all([
      readPodContext(deps.datastore, w),
      req.ipam === null ? null : readPoolChoiceInputs(deps),
      req.config.mtu > 0 ? null : readUplinkMtu(deps.runners.ip),
    ]);
    const { addresses, pools, dns } = await assignAddresses(req, deps, w, store, context, inputs);
    const mtu = resolveMtu({
      configuredMtu: req.config.mtu,
      uplinkMtu,
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
    // The datapath and the record of the pod are independent once the addresses are known, so
    // they are made side by side (DESIGN.md, "ADD"); either failing undoes both below.
    const [attach, recording] = await Promise.allSettled([attachWorkload(plan, deps.runners), recordWorkload(deps, w, plan, context, log)]);
    if (attach.status === 'fulfilled') attached = plan;
    if (recording.status === 'fulfilled') recorded = recording.value;
    // The datapath's error first: it is what the one-after-another order reported.
    if (attach.status === 'rejected') throw attach.reason;
    if (recording.status === 'rejected') throw recording.reason;
    log.debug({ outcome: attach.value, hostIfName: plan.hostIfName, addresses: addresses.map((a) => a.address) }, 'datapath attached');
    await waitForPolicy(req.config, plan, log);
    log.info({ hostIfName: plan.hostIfName, addresses: addresses.map((a) => a.address), mtu }, 'pod attached');
    return resultOf(plan, dns);
  } catch (err) {
    // Undo in reverse: the record of the pod, the veth (and its routes), then the addresses.
    await unrecordWorkload(deps, recorded).catch((unrecordErr: unknown) =>
      log.error({ err: unrecordErr, record: recorded.kind }, 'could not remove the record of a failed ADD'),
    );
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
