/**
 * DEL: remove the pod end of the veth (the host end and its routes go with
 * it), the WorkloadEndpoint if it is still this container's (etcd mode) or
 * the Pod's address annotations (Kubernetes mode), and the
 * addresses held under the handle. Idempotent: a missing netns, interface,
 * endpoint or allocation is success (CNI spec, DEL: "Plugins should
 * generally complete a DEL action without error even if some resources are
 * missing").
 */
import { Kinds } from '../../../lib/datastore/kinds.js';
import { hasErrorCode } from '../../../lib/errors.js';
import { executeDetach } from '../attach.js';
import { BlockStore } from '../ipam/block-store.js';
import { planDetach } from '../plan.js';
import type { CniRequest } from '../request.js';
import type { CniDeps } from './deps.js';
import { execIpamPlugin } from './ipam-delegate.js';
import { recordPodAddresses, recordedAddressesWithin } from './pod.js';
import {
  handleIdOf,
  workloadEndpointName,
  workloadEndpointNamespace,
  workloadOf,
  type WorkloadEndpointObject,
} from './workload.js';

export async function cmdDel(req: CniRequest, deps: CniDeps): Promise<void> {
  const w = workloadOf(req);
  const log = deps.log.child({ command: 'DEL', containerId: w.containerId, pod: w.podName, namespace: w.podNamespace });

  // 1. The datapath first, so nothing reaches an address about to be reused.
  const detach = planDetach({ ...w, netnsPath: req.netns ?? null });
  const outcome = await executeDetach(detach, deps.runners);
  const store = req.ipam === null ? null : (deps.blockStore ?? new BlockStore(deps.datastore));
  // What step 3 reads (the handle, its blocks) is read while step 2 runs; the writes keep their order.
  // Failed reads are not an error here: releaseByHandle then reads for itself.
  const releaseReads = store?.prepareRelease(handleIdOf(w)).catch(() => undefined);

  // 2. The endpoint, only if it still belongs to this container: a new sandbox of
  //    the same pod may have replaced it already (its name comes from the pod).
  if (deps.datastore.type === 'etcdv3') {
    const name = workloadEndpointName(deps.nodeName, w);
    const namespace = workloadEndpointNamespace(w);
    const wep = await deps.datastore.get<WorkloadEndpointObject>(Kinds.WorkloadEndpoint, name, namespace);
    if (wep !== null && wep.spec.containerID === w.containerId) {
      try {
        await deps.datastore.delete(Kinds.WorkloadEndpoint, name, namespace, { resourceVersion: wep.metadata.resourceVersion });
      } catch (err) {
        // Already deleted by a concurrent DEL, or replaced by a new sandbox's ADD: either way not ours to remove.
        if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND') && !hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
      }
    }
  } else if (w.podName !== null && w.podNamespace !== null) {
    // Kubernetes mode: the Pod's address annotations go, if the Pod is still there (a deleted Pod is
    // success) and they are this sandbox's: a new sandbox of the same pod may have recorded its own.
    // With block IPAM that is known from the handle; a delegated plugin's addresses are not, so then they go.
    let mine: (annotations: Readonly<Record<string, string>>) => boolean = () => true;
    if (store !== null) {
      const held = await store.addressesOfHandle(handleIdOf(w));
      const set = new Set([...held.ipv4, ...held.ipv6]);
      mine = (annotations) => recordedAddressesWithin(annotations, set);
    }
    await recordPodAddresses(deps.datastore, w.podNamespace, w.podName, null, mine);
  }

  // 3. The addresses (releaseByHandle is idempotent; so is a delegated plugin's DEL, by the spec).
  let released: string[] = [];
  if (store === null) await execIpamPlugin(req, 'DEL', deps.runPlugin);
  else released = await store.releaseByHandle(handleIdOf(w), await releaseReads);
  log.info({ datapath: outcome, hostIfName: detach.hostIfName, released }, 'pod detached');
}
