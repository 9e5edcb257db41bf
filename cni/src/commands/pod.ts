/**
 * The Pod behind a CNI call, as the datastore knows it: read at ADD for its
 * annotations (pool choice, fixed addresses), labels, service account and
 * named ports; written in Kubernetes mode to record the pod's addresses in
 * its annotations (`tortie.dev/podIP`, `tortie.dev/podIPs`), as Calico does,
 * because there the Pod is the record the policy agent reads.
 */
import { ANNOTATION_POD_IP, ANNOTATION_POD_IPS } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { TortieError, hasErrorCode } from '../../../lib/errors.js';
import type { WorkloadIdentity } from './workload.js';

interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
  hostPort?: number;
  hostIP?: string;
}

/** The core v1 Pod fields the plugin reads. */
export interface PodObject extends StoredObject {
  spec?: {
    serviceAccountName?: string;
    containers?: { ports?: ContainerPort[] | null }[] | null;
    initContainers?: { ports?: ContainerPort[] | null }[] | null;
  };
}

/** What ADD knows of the pod: null pod when the call names none or the datastore has none. */
export interface PodContext {
  pod: PodObject | null;
  podAnnotations: Record<string, string>;
  namespaceAnnotations: Record<string, string>;
}

/** A named port as a WorkloadEndpoint carries it (crds/src/workload-endpoint.ts). */
export interface WorkloadEndpointPort {
  name: string;
  protocol: string;
  port: number;
  hostPort?: number;
  hostIP?: string;
}

/** get, with "this backend keeps no such kind" read as absence (an etcd store without core kinds). */
async function getOrNull<T extends StoredObject>(datastore: Datastore, kind: (typeof Kinds)[keyof typeof Kinds], name: string, namespace?: string): Promise<T | null> {
  try {
    return await datastore.get<T>(kind, name, namespace);
  } catch (err) {
    if (hasErrorCode(err, 'ERR_DATASTORE_UNSUPPORTED')) return null;
    throw err;
  }
}

export async function readPodContext(datastore: Datastore, w: WorkloadIdentity): Promise<PodContext> {
  if (w.podName === null || w.podNamespace === null) return { pod: null, podAnnotations: {}, namespaceAnnotations: {} };
  const [pod, namespace] = await Promise.all([
    getOrNull<PodObject>(datastore, Kinds.K8sPod, w.podName, w.podNamespace),
    getOrNull(datastore, Kinds.K8sNamespace, w.podNamespace),
  ]);
  return { pod, podAnnotations: pod?.metadata.annotations ?? {}, namespaceAnnotations: namespace?.metadata.annotations ?? {} };
}

/** The pod's named ports (TCP, UDP, SCTP), as policy rules refer to them by name. */
export function namedPortsOf(pod: PodObject): WorkloadEndpointPort[] {
  const ports: WorkloadEndpointPort[] = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.name) continue;
      const protocol = (p.protocol ?? 'TCP').toUpperCase();
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
      ports.push({
        name: p.name,
        protocol,
        port: p.containerPort,
        ...(p.hostPort ? { hostPort: p.hostPort } : {}),
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      });
    }
  }
  return ports;
}

/** The annotations that record `cidrs` (`10.244.1.5/32`...); null removes them. */
export function podIpAnnotations(current: Readonly<Record<string, string>>, cidrs: readonly string[] | null): Record<string, string> {
  const next: Record<string, string> = { ...current };
  delete next[ANNOTATION_POD_IP];
  delete next[ANNOTATION_POD_IPS];
  if (cidrs !== null && cidrs.length > 0) {
    next[ANNOTATION_POD_IP] = cidrs[0]!;
    next[ANNOTATION_POD_IPS] = cidrs.join(',');
  }
  return next;
}

/** Whether the recorded addresses are all among `held` (bare addresses): then they are this sandbox's to remove. */
export function recordedAddressesWithin(annotations: Readonly<Record<string, string>>, held: ReadonlySet<string>): boolean {
  const text = annotations[ANNOTATION_POD_IPS] ?? annotations[ANNOTATION_POD_IP];
  if (text === undefined || text === '') return false;
  return text.split(',').every((cidr) => held.has(cidr.trim().split('/')[0] ?? ''));
}

const MAX_ATTEMPTS = 10;

/**
 * Sets (cidrs) or removes (null) the address annotations of a Pod, by
 * read-modify-update with retry on conflict: the kubelet and controllers
 * write the same Pod. Returns false when the Pod does not exist.
 */
export async function recordPodAddresses(
  datastore: Datastore,
  namespace: string,
  name: string,
  cidrs: readonly string[] | null,
  /** Change nothing unless this holds for the Pod's current annotations. */
  onlyIf: (annotations: Readonly<Record<string, string>>) => boolean = () => true,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const pod = await datastore.get<PodObject>(Kinds.K8sPod, name, namespace);
    if (pod === null) return false;
    const current = pod.metadata.annotations ?? {};
    if (!onlyIf(current)) return true;
    const annotations = podIpAnnotations(current, cidrs);
    const unchanged =
      current[ANNOTATION_POD_IP] === annotations[ANNOTATION_POD_IP] && current[ANNOTATION_POD_IPS] === annotations[ANNOTATION_POD_IPS];
    if (unchanged) return true;
    try {
      await datastore.update(Kinds.K8sPod, { ...pod, metadata: { ...pod.metadata, annotations } });
      return true;
    } catch (err) {
      if (hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) return false;
      if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
      if (attempt >= MAX_ATTEMPTS) {
        throw new TortieError('ERR_DATASTORE_CONFLICT', `Pod ${namespace}/${name} kept changing during ${MAX_ATTEMPTS} attempts to update its address annotations`, {
          cause: err,
        });
      }
    }
  }
}
