/**
 * The population the policy benchmarks share (bench/policy.ts, bench/policy-update.ts):
 * namespaces, workload endpoints (the first `local` on our node) and Kubernetes
 * NetworkPolicies of a typical mix.
 */
import type { K8sNetworkPolicy } from '../felix/src/model/k8s-network-policy.js';
import { Kinds } from '../lib/datastore/kinds.js';
import type { StoredObject } from '../lib/datastore/types.js';

export const NAMESPACES = 50;
export const NODE = 'node1';

export const nsName = (i: number) => `bench-${i % NAMESPACES}`;
export function namespaceObject(i: number): StoredObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName(i), labels: { team: `t${i % 5}` } } };
}
export function endpointAddress(j: number): string {
  return `10.${64 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}`;
}
export function endpointObject(j: number, local: number): StoredObject {
  const node = j < local ? NODE : `node-${2 + (j % 20)}`;
  return {
    apiVersion: Kinds.WorkloadEndpoint.apiVersion,
    kind: 'WorkloadEndpoint',
    metadata: { name: `${node}-k8s-pod--${j}-eth0`, namespace: nsName(j), labels: { app: `app-${j % 20}`, tier: ['web', 'api', 'db'][j % 3]! } },
    spec: {
      orchestrator: 'k8s',
      node,
      pod: `pod-${j}`,
      endpoint: 'eth0',
      interfaceName: `torb${j.toString(16).padStart(8, '0')}`,
      ipNetworks: [`${endpointAddress(j)}/32`],
      serviceAccountName: 'default',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    },
  };
}
/** A typical mix: ingress from a pod label or a namespace label on a number and a named port; every 4th also limits egress to CIDRs. */
export function policyObject(k: number, namespace = nsName(k), name = `np-${k}`): StoredObject & K8sNetworkPolicy {
  const p: K8sNetworkPolicy = {
    metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: `app-${k % 20}` } },
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % 20}` } } }, { namespaceSelector: { matchLabels: { team: `t${k % 5}` } } }],
          ports: [{ port: 80 + (k % 100), protocol: 'TCP' }, { port: 'http' }],
        },
      ],
      ...(k % 4 === 0
        ? { egress: [{ to: [{ ipBlock: { cidr: '10.64.0.0/10', except: [`10.${64 + (k % 8)}.0.0/16`] } }], ports: [{ port: 443 }] }], policyTypes: ['Ingress', 'Egress'] }
        : {}),
    },
  } as K8sNetworkPolicy;
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...(p as object) } as StoredObject & K8sNetworkPolicy;
}
