/**
 * Names and records of one workload (pure): the IPAM handle, the
 * WorkloadEndpoint name, and the endpoint object ADD writes.
 */
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import type { AttachmentPlan } from '../plan.js';
import type { CniRequest } from '../request.js';
import { namedPortsOf, type PodObject, type WorkloadEndpointPort } from './pod.js';

export interface WorkloadIdentity {
  containerId: string;
  /** The network's name (config `name`), part of the IPAM handle. */
  network: string;
  podNamespace: string | null;
  podName: string | null;
  ifName: string;
}

export function workloadOf(req: CniRequest): WorkloadIdentity {
  if (req.containerId === undefined || req.ifName === undefined) {
    // parseCniRequest already insists on both for ADD, DEL and CHECK.
    throw new Error(`bug: ${req.command} without CNI_CONTAINERID or CNI_IFNAME`);
  }
  return {
    containerId: req.containerId,
    network: req.config.name,
    podNamespace: req.k8s.K8S_POD_NAMESPACE || null,
    podName: req.k8s.K8S_POD_NAME || null,
    ifName: req.ifName,
  };
}

export function handleIdOf(w: WorkloadIdentity): string {
  return ipamHandleId(w.network, w.containerId);
}

/** Calico's rule: each part with "-" doubled, joined by "-": `<node>-k8s-<pod>-<if>` or `<node>-cni-<container>-<if>`. */
export function workloadEndpointName(node: string, w: WorkloadIdentity): string {
  const esc = (s: string) => s.replaceAll('-', '--');
  return w.podName !== null
    ? [node, 'k8s', w.podName, w.ifName].map(esc).join('-')
    : [node, 'cni', w.containerId, w.ifName].map(esc).join('-');
}

/** The namespace the endpoint lives in: the pod's, else `default`. */
export function workloadEndpointNamespace(w: WorkloadIdentity): string {
  return w.podNamespace ?? 'default';
}

export interface WorkloadEndpointObject extends StoredObject {
  spec: {
    orchestrator: string;
    node: string;
    containerID: string;
    pod?: string;
    endpoint: string;
    ipNetworks: string[];
    ipv4Gateway?: string;
    ipv6Gateway?: string;
    interfaceName: string;
    mac: string;
    profiles: string[];
    serviceAccountName?: string;
    ports?: WorkloadEndpointPort[];
  };
}

/** Synthetic labels every endpoint carries (Calico's spelling, as felix/src/model/endpoints.ts reads them). */
const LABEL_NAMESPACE = 'projectcalico.org/namespace';
const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';

/**
 * The endpoint ADD writes (etcd mode). With the Pod from the datastore it
 * carries, as Calico's does, the pod's labels, its service account and its
 * named ports, which policy selects and refers to.
 */
export function buildWorkloadEndpoint(node: string, w: WorkloadIdentity, plan: AttachmentPlan, pod: PodObject | null = null): WorkloadEndpointObject {
  const namespace = workloadEndpointNamespace(w);
  const v4 = plan.podRoutes.find((r) => r.family === 4)?.gateway;
  const v6 = plan.podRoutes.find((r) => r.family === 6)?.gateway;
  const serviceAccount = pod === null ? undefined : (pod.spec?.serviceAccountName ?? 'default');
  const ports = pod === null ? [] : namedPortsOf(pod);
  return {
    apiVersion: TORTIE_API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: workloadEndpointName(node, w),
      namespace,
      labels: {
        ...(pod?.metadata.labels ?? {}),
        [LABEL_NAMESPACE]: namespace,
        [LABEL_ORCHESTRATOR]: w.podName !== null ? 'k8s' : 'cni',
        ...(serviceAccount === undefined ? {} : { [LABEL_SERVICE_ACCOUNT]: serviceAccount }),
      },
    },
    spec: {
      orchestrator: w.podName !== null ? 'k8s' : 'cni',
      node,
      containerID: w.containerId,
      ...(w.podName === null ? {} : { pod: w.podName }),
      endpoint: w.ifName,
      ...(serviceAccount === undefined ? {} : { serviceAccountName: serviceAccount }),
      ipNetworks: plan.addresses.map((a) => `${a.address}/${a.prefixLength}`),
      ...(v4 ? { ipv4Gateway: v4 } : {}),
      ...(v6 ? { ipv6Gateway: v6 } : {}),
      interfaceName: plan.hostIfName,
      mac: plan.podMac,
      profiles: [`kns.${namespace}`, ...(serviceAccount === undefined ? [] : [`ksa.${namespace}.${serviceAccount}`])],
      ...(ports.length === 0 ? {} : { ports }),
    },
  };
}
