/**
 * The tortie-ipam commands (cmdAdd, cmdDel, cmdCheck, cmdStatus, cmdGc, as
 * the reference plugins name them), on a parsed request and a datastore that
 * main.ts passes in. No process, stdout or exit here: each returns what to
 * print (or nothing) and throws what to report.
 */
import { ipamHandleId } from '../../../lib/contract.js';
import { parseIp } from '../../../lib/cidr.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { hasErrorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import { parseResource } from '../../../crds/src/validate.js';
import { CniError, CniErrorCodes } from '../errors.js';
import type { CniRequest } from '../request.js';
import { type CniResultJson, buildIpamResult, convertResult } from '../result.js';
import type { PoolInfo } from './allocate.js';
import { BlockStore } from './block-store.js';
import { planIpam } from './plan.js';

export interface IpamDeps {
  datastore: Datastore;
  nodeName: string;
  log: Logger;
  now?: () => Date;
  blockStoreOptions?: ConstructorParameters<typeof BlockStore>[1];
}

function handleOf(request: CniRequest): string {
  if (request.containerId === undefined) throw new CniError(CniErrorCodes.InvalidEnvironment, `${request.command} needs CNI_CONTAINERID`);
  return ipamHandleId(request.config.name, request.containerId);
}

/** IPPools that parse (invalid ones are absent, STYLE.md §1), as PoolInfo. */
export async function loadPools(datastore: Datastore, log: Logger): Promise<PoolInfo[]> {
  const { items } = await datastore.list(Kinds.IPPool);
  const pools: PoolInfo[] = [];
  for (const item of items) {
    const parsed = parseResource('IPPool', item);
    if (parsed.ok) pools.push({ name: parsed.object.metadata.name, spec: parsed.object.spec });
    else log.warn({ pool: item.metadata.name, issues: parsed.issues }, 'ignoring invalid IPPool');
  }
  return pools;
}

async function labelsOf(datastore: Datastore, nodeName: string): Promise<Record<string, string>> {
  const kind = datastore.type === 'kubernetes' ? Kinds.K8sNode : Kinds.Node;
  const node = await datastore.get(kind, nodeName);
  return node?.metadata.labels ?? {};
}

async function annotationsOf(datastore: Datastore, request: CniRequest): Promise<{ pod: Record<string, string>; namespace: Record<string, string> }> {
  const { K8S_POD_NAME: name, K8S_POD_NAMESPACE: namespace } = request.k8s;
  if (name === undefined || namespace === undefined) return { pod: {}, namespace: {} };
  const read = async (p: Promise<StoredObject | null>) => {
    try {
      return (await p)?.metadata.annotations ?? {};
    } catch (err) {
      // The etcd backend keeps no Pods unless someone stores them: no annotations then.
      if (hasErrorCode(err, 'ERR_DATASTORE_UNSUPPORTED')) return {};
      throw err;
    }
  };
  return { pod: await read(datastore.get(Kinds.K8sPod, name, namespace)), namespace: await read(datastore.get(Kinds.K8sNamespace, namespace)) };
}

export async function cmdAdd(request: CniRequest, deps: IpamDeps): Promise<CniResultJson> {
  const ipam = request.ipam;
  if (ipam === null) throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: ipam.type must be "tortie-ipam"');
  const handleId = handleOf(request);
  const store = new BlockStore(deps.datastore, deps.blockStoreOptions);
  const [pools, nodeLabels, annotations] = await Promise.all([
    loadPools(deps.datastore, deps.log),
    labelsOf(deps.datastore, deps.nodeName),
    annotationsOf(deps.datastore, request),
  ]);
  const plan = planIpam({
    assignIpv4: ipam.assign_ipv4,
    assignIpv6: ipam.assign_ipv6,
    ...(ipam.ipv4_pools === undefined ? {} : { configIpv4Pools: ipam.ipv4_pools }),
    ...(ipam.ipv6_pools === undefined ? {} : { configIpv6Pools: ipam.ipv6_pools }),
    podAnnotations: annotations.pod,
    namespaceAnnotations: annotations.namespace,
    pools,
    nodeLabels,
  });
  if (!plan.ok) {
    const code = plan.field === 'pools' ? CniErrorCodes.NoPool : CniErrorCodes.InvalidNetworkConfig;
    throw new CniError(code, `${plan.field}: ${plan.reason}`);
  }
  const attributes = {
    node: deps.nodeName,
    namespace: request.k8s.K8S_POD_NAMESPACE ?? '',
    pod: request.k8s.K8S_POD_NAME ?? '',
    timestamp: (deps.now ?? (() => new Date()))().toISOString(),
  };
  let addresses: string[];
  try {
    if (plan.kind === 'addresses') {
      for (const address of plan.addresses) {
        await store.assignIp({ handleId, node: deps.nodeName, address, pools: plan.pools, attributes });
      }
      addresses = plan.addresses;
    } else {
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
      addresses = [...got.ipv4, ...got.ipv6];
    }
  } catch (err) {
    // Undo: whatever was taken under this handle goes back before we report (STYLE.md §6).
    try {
      await store.releaseByHandle(handleId);
    } catch (undoErr) {
      deps.log.error({ handleId, err: undoErr }, 'releasing after a failed ADD failed; garbage collection will release it');
    }
    throw err;
  }
  deps.log.info({ handleId, addresses }, 'addresses assigned');
  const ips = addresses.map((a) => ({ address: `${a}/${parseIp(a)?.family === 6 ? 128 : 32}` }));
  return convertResult(buildIpamResult({ ips, ...(request.config.dns === undefined ? {} : { dns: request.config.dns }) }), request.cniVersion);
}

/** DEL releases exactly what the handle holds; a handle already gone is success (spec: DEL is idempotent). */
export async function cmdDel(request: CniRequest, deps: IpamDeps): Promise<void> {
  const handleId = handleOf(request);
  const released = await new BlockStore(deps.datastore, deps.blockStoreOptions).releaseByHandle(handleId);
  deps.log.info({ handleId, released }, 'addresses released');
}

/** CHECK: every address of prevResult is still allocated to this container. */
export async function cmdCheck(request: CniRequest, deps: IpamDeps): Promise<void> {
  const handleId = handleOf(request);
  const held = await new BlockStore(deps.datastore, deps.blockStoreOptions).addressesOfHandle(handleId);
  const holds = new Set([...held.ipv4, ...held.ipv6]);
  for (const ip of request.prevResult?.ips ?? []) {
    const address = ip.address.split('/')[0]!;
    if (!holds.has(address)) {
      throw new CniError(CniErrorCodes.AllocationMissing, `address ${address} of prevResult is not allocated to ${handleId} any more`);
    }
  }
}

/** STATUS: able to serve ADD when the datastore answers and some pool can give addresses. */
export async function cmdStatus(_request: CniRequest, deps: IpamDeps): Promise<void> {
  let pools: PoolInfo[];
  try {
    pools = await loadPools(deps.datastore, deps.log);
  } catch (err) {
    throw new CniError(CniErrorCodes.PluginNotAvailable, `the datastore does not answer: ${(err as Error).message}`, { cause: err });
  }
  const usable = pools.filter((p) => p.spec.disabled !== true && (p.spec.allowedUses?.includes('Workload') ?? true));
  if (usable.length === 0) throw new CniError(CniErrorCodes.PluginNotAvailable, 'no enabled IPPool allows workloads; create one (see examples/ippool-default.yaml)');
}

/**
 * GC (spec 1.1.0): release every handle of this network whose container is
 * not among `cni.dev/valid-attachments`, but only handles whose addresses
 * were taken on this node: the runtime knows its own containers, not the
 * cluster's.
 */
export async function cmdGc(request: CniRequest, deps: IpamDeps): Promise<void> {
  if (request.validAttachments === null) {
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: GC needs cni.dev/valid-attachments');
  }
  const valid = new Set(request.validAttachments.map((a) => a.containerID));
  const prefix = `${request.config.name}.`;
  const store = new BlockStore(deps.datastore, deps.blockStoreOptions);
  for (const handle of await store.listHandles()) {
    const id = handle.spec.handleID;
    if (!id.startsWith(prefix) || valid.has(id.slice(prefix.length))) continue;
    const nodes = await store.nodesOfHandle(handle);
    if (nodes.size !== 1 || !nodes.has(deps.nodeName)) continue;
    const released = await store.releaseByHandle(id);
    deps.log.info({ handleId: id, released }, 'released a stale allocation (GC)');
  }
}
