import type { FelixPolicyConfig } from '../model/config.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../model/config.js';
import type { HostEndpointModel, ServiceAccountModel, WorkloadEndpointModel } from '../model/endpoints.js';
import { endpointKey } from '../model/endpoints.js';
import type { NamespaceModel } from '../model/namespaces.js';
import type { PolicyModel } from '../model/policies.js';
import type { NetworkSetModel } from '../model/sets.js';

/**
 * Everything policy depends on, at one moment. calculatePolicy is a function
 * of this alone (Felix's calc-graph contract): keys are unique, and the order
 * of the arrays does not matter.
 */
export interface PolicySnapshot {
  /** Our node: only its endpoints get dispatch chains. */
  readonly nodeName: string;
  readonly endpoints: readonly WorkloadEndpointModel[];
  readonly hostEndpoints: readonly HostEndpointModel[];
  readonly namespaces: readonly NamespaceModel[];
  readonly serviceAccounts: readonly ServiceAccountModel[];
  readonly policies: readonly PolicyModel[];
  readonly networkSets: readonly NetworkSetModel[];
  readonly config: FelixPolicyConfig;
}

/** One change, as a watch delivers it: the new value of a key, or null when it is gone. */
export type SnapshotUpdate =
  | { readonly kind: 'endpoint'; readonly key: string; readonly value: WorkloadEndpointModel | null }
  | { readonly kind: 'hostEndpoint'; readonly key: string; readonly value: HostEndpointModel | null }
  | { readonly kind: 'namespace'; readonly key: string; readonly value: NamespaceModel | null }
  | { readonly kind: 'serviceAccount'; readonly key: string; readonly value: ServiceAccountModel | null }
  | { readonly kind: 'policy'; readonly key: string; readonly value: PolicyModel | null }
  | { readonly kind: 'networkSet'; readonly key: string; readonly value: NetworkSetModel | null }
  | { readonly kind: 'config'; readonly key: 'config'; readonly value: FelixPolicyConfig | null };

/** The key an update for this object carries. */
export const updateKeys = {
  endpoint: (v: WorkloadEndpointModel) => endpointKey(v),
  hostEndpoint: (v: HostEndpointModel) => v.name,
  namespace: (v: NamespaceModel) => v.name,
  serviceAccount: (v: ServiceAccountModel) => endpointKey(v),
  policy: (v: PolicyModel) => v.id,
  networkSet: (v: NetworkSetModel) => v.name,
};

/**
 * The keyed state the watch loop keeps: last write per key wins, a null
 * deletes. `snapshot()` hands calculatePolicy a plain value.
 */
export class PolicyStore {
  private readonly endpoints = new Map<string, WorkloadEndpointModel>();
  private readonly hostEndpoints = new Map<string, HostEndpointModel>();
  private readonly namespaces = new Map<string, NamespaceModel>();
  private readonly serviceAccounts = new Map<string, ServiceAccountModel>();
  private readonly policies = new Map<string, PolicyModel>();
  private readonly networkSets = new Map<string, NetworkSetModel>();
  private config: FelixPolicyConfig | null = null;

  constructor(private readonly nodeName: string) {}

  apply(update: SnapshotUpdate): void {
    switch (update.kind) {
      case 'endpoint':
        return put(this.endpoints, update.key, update.value);
      case 'hostEndpoint':
        return put(this.hostEndpoints, update.key, update.value);
      case 'namespace':
        return put(this.namespaces, update.key, update.value);
      case 'serviceAccount':
        return put(this.serviceAccounts, update.key, update.value);
      case 'policy':
        return put(this.policies, update.key, update.value);
      case 'networkSet':
        return put(this.networkSets, update.key, update.value);
      case 'config':
        this.config = update.value;
        return;
    }
  }

  snapshot(): PolicySnapshot {
    return {
      nodeName: this.nodeName,
      endpoints: [...this.endpoints.values()],
      hostEndpoints: [...this.hostEndpoints.values()],
      namespaces: [...this.namespaces.values()],
      serviceAccounts: [...this.serviceAccounts.values()],
      policies: [...this.policies.values()],
      networkSets: [...this.networkSets.values()],
      config: this.config ?? DEFAULT_FELIX_POLICY_CONFIG,
    };
  }
}

function put<T>(map: Map<string, T>, key: string, value: T | null): void {
  if (value === null) map.delete(key);
  else map.set(key, value);
}
