import type { ObjectMeta, StoredObject } from '../../lib/datastore/types.js';

/**
 * What a write should do to the datastore, decided from the object the user
 * gave and the one stored (pure, so apply's "unchanged" is unit-tested):
 * - apply: create when absent, nothing when the same, else update;
 * - replace: update, keeping what only the datastore sets.
 * "The same" ignores what the datastore sets (resourceVersion, uid,
 * creationTimestamp, generation) and status, and treats a missing map as
 * an empty one, so applying the output of `tortie get -o yaml` is unchanged.
 */
export type ApplyPlan =
  | { readonly action: 'create'; readonly object: StoredObject }
  | { readonly action: 'unchanged' }
  | { readonly action: 'update'; readonly object: StoredObject };

/** Metadata only the datastore writes. */
const SERVER_METADATA = ['resourceVersion', 'uid', 'creationTimestamp', 'generation', 'managedFields', 'selfLink'] as const;

/** A copy without the metadata the datastore sets; what `create` sends. */
export function withoutServerFields(object: StoredObject): StoredObject {
  const metadata: Record<string, unknown> = { ...object.metadata };
  for (const key of SERVER_METADATA) delete metadata[key];
  return { ...object, metadata: metadata as unknown as ObjectMeta };
}

/** The user's object carrying over what the stored one has that only the datastore sets (and status, unless given). */
export function mergeForUpdate(desired: StoredObject, current: StoredObject, resourceVersion?: string): StoredObject {
  const metadata: Record<string, unknown> = { ...withoutServerFields(desired).metadata };
  for (const key of SERVER_METADATA) {
    const value = (current.metadata as unknown as Record<string, unknown>)[key];
    if (value !== undefined) metadata[key] = value;
  }
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  const merged: StoredObject = { ...desired, metadata: metadata as unknown as ObjectMeta };
  if (desired.status === undefined && current.status !== undefined) merged.status = current.status;
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values, ignoring key order; `undefined` members count as absent. */
export function isSameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => isSameJson(item, b[i]));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (!isSameJson(a[key], b[key])) return false;
  return true;
}

/** The parts of an object that a user's write decides. */
function userView(object: StoredObject): Record<string, unknown> {
  const view: Record<string, unknown> = { ...object };
  delete view.status;
  const metadata: Record<string, unknown> = { ...withoutServerFields(object).metadata };
  for (const key of ['labels', 'annotations'] as const) {
    const map = metadata[key];
    if (isPlainObject(map) && Object.keys(map).length === 0) delete metadata[key];
  }
  view.metadata = metadata;
  return view;
}

export function isUnchanged(desired: StoredObject, current: StoredObject): boolean {
  return isSameJson(userView(desired), userView(current));
}

export function planApply(desired: StoredObject, current: StoredObject | null): ApplyPlan {
  if (current === null) return { action: 'create', object: withoutServerFields(desired) };
  if (isUnchanged(desired, current)) return { action: 'unchanged' };
  return { action: 'update', object: mergeForUpdate(desired, current) };
}
