import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import type { K8sNetworkPolicy } from '../../../felix/src/model/k8s-network-policy.js';
import { Kinds, type KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';

/**
 * The objects a user would have in the datastore (etcd mode) for one step of
 * a shared NetworkPolicy conformance case: a Namespace per namespace, a
 * WorkloadEndpoint per pod (labels on the WEP, as the CNI plugin writes
 * them), and the case's Kubernetes NetworkPolicies. Used by the unit test
 * (memory datastore) and the CLI integration test (real etcd).
 */
export interface KindObject {
  kind: KindInfo;
  object: StoredObject;
}

export function caseStepResources(snapshot: PolicySnapshot, policies: readonly K8sNetworkPolicy[]): KindObject[] {
  const out: KindObject[] = [];
  for (const ns of snapshot.namespaces) {
    out.push({ kind: Kinds.K8sNamespace, object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: { ...ns.labels } } } });
  }
  for (const ep of snapshot.endpoints) {
    out.push({
      kind: Kinds.WorkloadEndpoint,
      object: {
        apiVersion: Kinds.WorkloadEndpoint.apiVersion,
        kind: 'WorkloadEndpoint',
        metadata: { name: `${ep.node}-k8s-${ep.name}-eth0`, namespace: ep.namespace, labels: { ...ep.labels } },
        spec: {
          orchestrator: 'k8s',
          node: ep.node,
          pod: ep.name,
          endpoint: 'eth0',
          interfaceName: ep.interfaceName,
          ipNetworks: ep.ipv4.map((a) => `${a}/32`),
          ...(ep.serviceAccount === null ? {} : { serviceAccountName: ep.serviceAccount }),
          ports: ep.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
        },
      },
    });
  }
  for (const p of policies) {
    out.push({ kind: Kinds.K8sNetworkPolicy, object: { ...(p as unknown as StoredObject), apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' } });
  }
  return out;
}

const keyOf = (o: StoredObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Makes the datastore hold exactly these objects of their kinds (and of `kinds`): creates, updates, deletes the rest. */
export async function syncResources(datastore: Datastore, objects: readonly KindObject[], kinds: readonly KindInfo[] = [Kinds.K8sNamespace, Kinds.WorkloadEndpoint, Kinds.K8sNetworkPolicy]): Promise<void> {
  for (const kind of kinds) {
    const wanted = new Map(objects.filter((o) => o.kind === kind).map((o) => [keyOf(o.object), o.object]));
    const held = new Map((await datastore.list(kind)).items.map((o) => [keyOf(o), o]));
    for (const [key, o] of held) if (!wanted.has(key)) await datastore.delete(kind, o.metadata.name, o.metadata.namespace);
    for (const [key, o] of wanted) {
      const old = held.get(key);
      const fresh = structuredClone(o);
      if (old === undefined) await datastore.create(kind, fresh);
      else await datastore.update(kind, { ...fresh, metadata: { ...fresh.metadata, resourceVersion: old.metadata.resourceVersion } });
    }
  }
}
