import { formatIssues, validateAs } from '../../../crds/src/index.js';
import type { KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { watchedKinds } from '../loop.js';
import { PolicyStore, type PolicySnapshot } from './snapshot.js';

/**
 * A PolicySnapshot from listed resources, with the same kinds, schema checks
 * and converters the agent's loop uses (`watchedKinds` in loop.ts): what
 * `tortie policy explain` evaluates. Pure: the caller lists the datastore.
 * An object the schema refuses, or the converter cannot use, is absent, as
 * in the loop, and is reported in `skipped`.
 *
 * FelixConfiguration is not read: its fields (failsafe ports) only concern
 * host endpoints, which explain does not evaluate; the snapshot carries the
 * defaults.
 */
export interface SkippedResource {
  readonly kind: string;
  readonly name: string;
  readonly reason: string;
}

export interface ListedResources {
  readonly kind: KindInfo;
  readonly items: readonly StoredObject[];
}

/** The kinds to list for a datastore of this type (WorkloadEndpoints in etcd mode, Pods in Kubernetes mode). */
export function snapshotKinds(mode: Datastore['type']): KindInfo[] {
  return watchedKinds(mode).map((k) => k.kind);
}

export function snapshotFromResources(
  mode: Datastore['type'],
  listed: readonly ListedResources[],
  nodeName = '(snapshot)',
): { snapshot: PolicySnapshot; skipped: SkippedResource[] } {
  const store = new PolicyStore(nodeName);
  const skipped = applyResources(store, mode, listed);
  return { snapshot: store.snapshot(), skipped };
}

/** Listed resources into a store (what snapshotFromResources does, on a store the caller keeps); what was not applied, and why. */
export function applyResources(store: PolicyStore, mode: Datastore['type'], listed: readonly ListedResources[]): SkippedResource[] {
  const skipped: SkippedResource[] = [];
  const converters = new Map(watchedKinds(mode).map((k) => [k.kind, k.convert]));
  for (const { kind, items } of listed) {
    const convert = converters.get(kind);
    if (convert === undefined) continue;
    for (const item of items) {
      const name = item.metadata.namespace === undefined ? item.metadata.name : `${item.metadata.namespace}/${item.metadata.name}`;
      const valid = validateAs(kind, item);
      if (!valid.ok) {
        skipped.push({ kind: kind.kind, name, reason: formatIssues(valid.issues) });
        continue;
      }
      const update = convert(valid.object);
      if (update === null) continue;
      if ('error' in update) skipped.push({ kind: kind.kind, name, reason: update.error });
      else store.apply(update);
    }
  }
  return skipped;
}
