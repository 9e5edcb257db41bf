import { TORTIE_API_VERSION } from '../contract.js';

/**
 * What the datastore needs to know about a kind: where it lives (API path in
 * Kubernetes, key prefix in etcd) and whether it is namespaced. The zod schema
 * of each tortie kind is in crds/src; this table stays free of it so that the
 * datastore can carry core Kubernetes kinds too.
 */
export interface KindInfo {
  readonly apiVersion: string;
  readonly kind: string;
  /** Lower-case plural, as in the REST path: `ippools`. */
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** Tortie's own kinds are custom resources; core kinds are read (and, in etcd mode, stored) as they are. */
  readonly isTortieKind: boolean;
}

function tortieKind(kind: string, plural: string, namespaced: boolean, shortNames: string[] = []): KindInfo {
  return {
    apiVersion: TORTIE_API_VERSION,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames,
    isTortieKind: true,
  };
}

function coreKind(apiVersion: string, kind: string, plural: string, namespaced: boolean, shortNames: string[] = []): KindInfo {
  return { apiVersion, kind, plural, singular: kind.toLowerCase(), namespaced, shortNames, isTortieKind: false };
}

export const Kinds = {
  IPPool: tortieKind('IPPool', 'ippools', false, ['ippool']),
  BGPConfiguration: tortieKind('BGPConfiguration', 'bgpconfigurations', false, ['bgpconfig']),
  BGPPeer: tortieKind('BGPPeer', 'bgppeers', false, ['bgppeer']),
  FelixConfiguration: tortieKind('FelixConfiguration', 'felixconfigurations', false, ['felixconfig']),
  NetworkPolicy: tortieKind('NetworkPolicy', 'networkpolicies', true, ['tnp']),
  GlobalNetworkPolicy: tortieKind('GlobalNetworkPolicy', 'globalnetworkpolicies', false, ['gnp']),
  GlobalNetworkSet: tortieKind('GlobalNetworkSet', 'globalnetworksets', false, ['gns']),
  HostEndpoint: tortieKind('HostEndpoint', 'hostendpoints', false, ['hep']),
  IPAMBlock: tortieKind('IPAMBlock', 'ipamblocks', false),
  BlockAffinity: tortieKind('BlockAffinity', 'blockaffinities', false),
  IPAMHandle: tortieKind('IPAMHandle', 'ipamhandles', false),
  Node: tortieKind('Node', 'nodes', false, ['tnode']),
  WorkloadEndpoint: tortieKind('WorkloadEndpoint', 'workloadendpoints', true, ['wep']),

  // Core Kubernetes kinds: read-only through the kubernetes backend, stored as-is by the etcd backend.
  K8sPod: coreKind('v1', 'Pod', 'pods', true, ['po']),
  K8sNamespace: coreKind('v1', 'Namespace', 'namespaces', false, ['ns']),
  K8sNode: coreKind('v1', 'Node', 'nodes', false, ['no']),
  K8sServiceAccount: coreKind('v1', 'ServiceAccount', 'serviceaccounts', true, ['sa']),
  K8sSecret: coreKind('v1', 'Secret', 'secrets', true),
  K8sNetworkPolicy: coreKind('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', true, ['netpol']),
} as const satisfies Record<string, KindInfo>;

export type KindKey = keyof typeof Kinds;

export const allKinds: readonly KindInfo[] = Object.values(Kinds);
export const tortieKinds: readonly KindInfo[] = allKinds.filter((k) => k.isTortieKind);

/** Finds a kind by apiVersion + kind, as an object on the wire names it. */
export function kindOf(apiVersion: string, kind: string): KindInfo | undefined {
  return allKinds.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

/** API group of a kind ('' for the core group). */
export function groupOf(kind: KindInfo): string {
  const slash = kind.apiVersion.indexOf('/');
  return slash < 0 ? '' : kind.apiVersion.slice(0, slash);
}
