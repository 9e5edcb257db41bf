import { hostVethName } from '../../../cni/src/plan.js';
import { formatIp, parseIp } from '../../../lib/cidr.js';
import { ANNOTATION_POD_IP, ANNOTATION_POD_IPS } from '../../../lib/contract.js';
import type { ConvertResult, NamedPort, WorkloadEndpointModel } from './endpoints.js';

/** The Pod fields policy needs (core v1 names). */
export interface K8sPod {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> | null; annotations?: Record<string, string> | null };
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: readonly { ports?: readonly { name?: string; containerPort: number; protocol?: string }[] | null }[];
    initContainers?: readonly { ports?: readonly { name?: string; containerPort: number; protocol?: string }[] | null }[] | null;
  };
  status?: { phase?: string; podIP?: string; podIPs?: readonly { ip: string }[] | null };
}

/**
 * A Pod → a workload endpoint (Kubernetes datastore mode, where the
 * WorkloadEndpoint the CNI plugin writes carries no labels or ports). null
 * when the pod is not a policy endpoint: host-network pods, finished pods
 * (Succeeded / Failed, whose addresses may already be reused), pods not
 * scheduled yet or without an address yet.
 *
 * Addresses come from the CNI plugin's annotations first (set at ADD, before
 * the kubelet reports status.podIPs), then from status. The host-side
 * interface name is the CNI plugin's (`hostVethName`, from namespace.pod).
 */
export function fromK8sPod(pod: K8sPod): ConvertResult<WorkloadEndpointModel> | null {
  const namespace = pod.metadata.namespace;
  const name = pod.metadata.name;
  if (!namespace || !name) return { ok: false, error: 'metadata.name and metadata.namespace are required' };
  const spec = pod.spec ?? {};
  if (spec.hostNetwork === true || !spec.nodeName) return null;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return null;

  const texts: string[] = [];
  const annotations = pod.metadata.annotations ?? {};
  const many = annotations[ANNOTATION_POD_IPS];
  const one = annotations[ANNOTATION_POD_IP];
  if (many) texts.push(...many.split(','));
  else if (one) texts.push(one);
  else if (pod.status?.podIPs && pod.status.podIPs.length > 0) texts.push(...pod.status.podIPs.map((p) => p.ip));
  else if (pod.status?.podIP) texts.push(pod.status.podIP);
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const t of texts) {
    const ip = parseIp(t.trim().split('/')[0] ?? '');
    if (ip === null) return { ok: false, error: `pod address ${JSON.stringify(t)} is not an IP address` };
    (ip.family === 4 ? ipv4 : ipv6).add(formatIp(ip.family, ip.value));
  }
  if (ipv4.size === 0 && ipv6.size === 0) return null;

  const ports: NamedPort[] = [];
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.name) continue;
      const protocol = (p.protocol ?? 'TCP').toUpperCase();
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
      ports.push({ name: p.name, protocol, port: p.containerPort });
    }
  }
  return {
    ok: true,
    value: {
      namespace,
      name,
      node: spec.nodeName,
      interfaceName: hostVethName({ containerId: '', podNamespace: namespace, podName: name }),
      ipv4: [...ipv4].sort(),
      ipv6: [...ipv6].sort(),
      labels: { ...(pod.metadata.labels ?? {}) },
      serviceAccount: spec.serviceAccountName ?? 'default',
      ports,
    },
  };
}
