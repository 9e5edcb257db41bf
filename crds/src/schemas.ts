import type { z } from 'zod';
import { Kinds, type KindInfo, type KindKey } from '../../lib/datastore/kinds.js';
import { BGPConfigurationSchema } from './bgp-configuration.js';
import { BGPPeerSchema } from './bgp-peer.js';
import { BlockAffinitySchema } from './block-affinity.js';
import { FelixConfigurationSchema } from './felix-configuration.js';
import { GlobalNetworkPolicySchema } from './global-network-policy.js';
import { GlobalNetworkSetSchema } from './global-network-set.js';
import { HostEndpointSchema } from './host-endpoint.js';
import { IPAMBlockSchema } from './ipam-block.js';
import { IPAMHandleSchema } from './ipam-handle.js';
import { IPPoolSchema } from './ip-pool.js';
import { K8sNamespaceSchema } from './k8s/namespace.js';
import { K8sNetworkPolicySchema } from './k8s/network-policy.js';
import { K8sNodeSchema } from './k8s/node.js';
import { K8sPodSchema } from './k8s/pod.js';
import { K8sSecretSchema } from './k8s/secret.js';
import { K8sServiceAccountSchema } from './k8s/service-account.js';
import { NetworkPolicySchema } from './network-policy.js';
import { NodeSchema } from './node.js';
import { WorkloadEndpointSchema } from './workload-endpoint.js';

/** The schema of every kind in lib/datastore/kinds.ts, by its key there. */
export const schemasByKind = {
  IPPool: IPPoolSchema,
  BGPConfiguration: BGPConfigurationSchema,
  BGPPeer: BGPPeerSchema,
  FelixConfiguration: FelixConfigurationSchema,
  NetworkPolicy: NetworkPolicySchema,
  GlobalNetworkPolicy: GlobalNetworkPolicySchema,
  GlobalNetworkSet: GlobalNetworkSetSchema,
  HostEndpoint: HostEndpointSchema,
  IPAMBlock: IPAMBlockSchema,
  BlockAffinity: BlockAffinitySchema,
  IPAMHandle: IPAMHandleSchema,
  Node: NodeSchema,
  WorkloadEndpoint: WorkloadEndpointSchema,
  K8sPod: K8sPodSchema,
  K8sNamespace: K8sNamespaceSchema,
  K8sNode: K8sNodeSchema,
  K8sServiceAccount: K8sServiceAccountSchema,
  K8sSecret: K8sSecretSchema,
  K8sNetworkPolicy: K8sNetworkPolicySchema,
} as const satisfies Record<KindKey, z.ZodType>;

export type SchemaOf<K extends KindKey> = (typeof schemasByKind)[K];
/** The parsed (defaulted) object of a kind: `ResourceOf<'IPPool'>`. */
export type ResourceOf<K extends KindKey> = z.output<SchemaOf<K>>;

/** The key of a KindInfo in `Kinds` (by identity, else by apiVersion + kind). */
export function kindKeyOf(kind: KindInfo): KindKey | undefined {
  for (const [key, info] of Object.entries(Kinds) as [KindKey, KindInfo][]) {
    if (info === kind || (info.apiVersion === kind.apiVersion && info.kind === kind.kind)) return key;
  }
  return undefined;
}

/**
 * The zod schema of a kind. Throws for a KindInfo that is not in `Kinds` (a
 * bug). For the typed schema use `schemasByKind.IPPool` or `parseResource`.
 */
export function schemaFor(kind: KindInfo): z.ZodType {
  const key = kindKeyOf(kind);
  if (key === undefined) throw new Error(`no schema for ${kind.apiVersion} ${kind.kind}`);
  return schemasByKind[key];
}
