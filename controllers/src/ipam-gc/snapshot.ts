/**
 * What the garbage collector looks at, as plain data: the IPAM records, which
 * nodes exist, and which workloads exist. Built from the reconciler's cache in
 * the controller, or from fresh reads just before a release (release.ts).
 *
 * Existence is judged by name only, never by schema validity: a pod or
 * endpoint we cannot parse still exists, and its addresses must stay.
 * IPAM records, on the other hand, are used only when they validate (an
 * invalid block is never written over, as in cni/src/ipam/block-store.ts).
 */
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { parseIp, formatIp } from '../../../lib/cidr.js';
import { BlockAffinitySpecSchema, IPAMBlockSpecSchema, IPAMHandleSpecSchema } from '../../../crds/src/index.js';
import type { IpamBlockSpec } from '../../../cni/src/ipam/allocate.js';
import type { BlockAffinitySpec, IpamHandleSpec } from '../../../cni/src/ipam/block-store.js';
import type { ObjectCache } from '../runtime/reconciler.js';

export type DatastoreMode = 'etcdv3' | 'kubernetes';

export interface BlockRecord {
  name: string;
  resourceVersion: string | undefined;
  spec: IpamBlockSpec;
}
export interface AffinityRecord {
  name: string;
  resourceVersion: string | undefined;
  spec: BlockAffinitySpec;
}
export interface HandleRecord {
  name: string;
  resourceVersion: string | undefined;
  spec: IpamHandleSpec;
}

/** A WorkloadEndpoint as the GC needs it (etcd mode). */
export interface WorkloadRef {
  namespace: string;
  node: string | null;
  pod: string | null;
  containerID: string | null;
}

/** A Kubernetes Pod as the GC needs it (kubernetes mode). */
export interface PodRef {
  namespace: string;
  name: string;
  nodeName: string | null;
  /** status.podIPs (or podIP), canonical text; empty until the kubelet reports them. */
  ips: readonly string[];
}

export interface GcSnapshot {
  mode: DatastoreMode;
  blocks: readonly BlockRecord[];
  /** Names of blocks that exist but do not validate: never released from, never deleted. */
  invalidBlocks: ReadonlySet<string>;
  affinities: readonly AffinityRecord[];
  handles: readonly HandleRecord[];
  /** Nodes that exist: tortie Nodes (etcdv3) or Kubernetes Nodes (kubernetes). */
  nodes: ReadonlySet<string>;
  /** etcdv3: the WorkloadEndpoints. */
  workloadEndpoints: readonly WorkloadRef[];
  /** kubernetes: the Pods. */
  pods: readonly PodRef[];
}

/** Canonical text of an address (so `fd00::0:1` and `fd00::1` compare equal); the input when it does not parse. */
export function canonicalIp(text: string): string {
  const ip = parseIp(text.split('/')[0] ?? text);
  return ip === null ? text : formatIp(ip.family, ip.value);
}

export function blockRecordOf(object: StoredObject): BlockRecord | null {
  const parsed = IPAMBlockSpecSchema.safeParse(object.spec);
  if (!parsed.success) return null;
  return {
    name: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion,
    spec: { ...parsed.data, affinity: parsed.data.affinity ?? null, attributes: parsed.data.attributes.map((a) => ({ handle_id: a.handle_id ?? null, secondary: a.secondary ?? null })) },
  };
}

export function affinityRecordOf(object: StoredObject): AffinityRecord | null {
  const parsed = BlockAffinitySpecSchema.safeParse(object.spec);
  if (!parsed.success) return null;
  return { name: object.metadata.name, resourceVersion: object.metadata.resourceVersion, spec: parsed.data };
}

export function handleRecordOf(object: StoredObject): HandleRecord | null {
  const parsed = IPAMHandleSpecSchema.safeParse(object.spec);
  if (!parsed.success) return null;
  return { name: object.metadata.name, resourceVersion: object.metadata.resourceVersion, spec: parsed.data };
}

function stringField(value: unknown, key: string): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const field = (value as Record<string, unknown>)[key];
  return typeof field === 'string' && field !== '' ? field : null;
}

export function workloadRefOf(object: StoredObject): WorkloadRef {
  return {
    namespace: object.metadata.namespace ?? 'default',
    node: stringField(object.spec, 'node'),
    pod: stringField(object.spec, 'pod'),
    containerID: stringField(object.spec, 'containerID'),
  };
}

export function podRefOf(object: StoredObject): PodRef {
  const status = typeof object.status === 'object' && object.status !== null ? (object.status as Record<string, unknown>) : {};
  const ips = new Set<string>();
  const single = stringField(status, 'podIP');
  if (single !== null) ips.add(canonicalIp(single));
  if (Array.isArray(status['podIPs'])) {
    for (const entry of status['podIPs'] as unknown[]) {
      const ip = stringField(entry, 'ip');
      if (ip !== null) ips.add(canonicalIp(ip));
    }
  }
  return {
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name,
    nodeName: stringField(object.spec, 'nodeName'),
    ips: [...ips],
  };
}

/** The IPAM records out of a list of stored blocks, affinities and handles (invalid ones set aside). */
export function ipamRecordsOf(blocks: readonly StoredObject[], affinities: readonly StoredObject[], handles: readonly StoredObject[]) {
  const validBlocks: BlockRecord[] = [];
  const invalidBlocks = new Set<string>();
  for (const b of blocks) {
    const record = blockRecordOf(b);
    if (record === null) invalidBlocks.add(b.metadata.name);
    else validBlocks.push(record);
  }
  return {
    blocks: validBlocks,
    invalidBlocks,
    affinities: affinities.map(affinityRecordOf).filter((a) => a !== null),
    handles: handles.map(handleRecordOf).filter((h) => h !== null),
  };
}

/** The kind whose objects say a node exists in this mode. */
export function nodeKindOf(mode: DatastoreMode) {
  return mode === 'kubernetes' ? Kinds.K8sNode : Kinds.Node;
}

/** The kinds the GC watches in this mode. */
export function gcInputsOf(mode: DatastoreMode) {
  return [Kinds.IPAMBlock, Kinds.BlockAffinity, Kinds.IPAMHandle, nodeKindOf(mode), mode === 'kubernetes' ? Kinds.K8sPod : Kinds.WorkloadEndpoint] as const;
}

/** The snapshot of what the reconciler's cache holds now. */
export function snapshotOf(mode: DatastoreMode, cache: ObjectCache): GcSnapshot {
  return {
    mode,
    ...ipamRecordsOf(cache.list(Kinds.IPAMBlock), cache.list(Kinds.BlockAffinity), cache.list(Kinds.IPAMHandle)),
    nodes: new Set(cache.list(nodeKindOf(mode)).map((n) => n.metadata.name)),
    workloadEndpoints: mode === 'etcdv3' ? cache.list(Kinds.WorkloadEndpoint).map(workloadRefOf) : [],
    pods: mode === 'kubernetes' ? cache.list(Kinds.K8sPod).map(podRefOf) : [],
  };
}
