import type { KindInfo } from './kinds.js';

/**
 * The datastore contract (DESIGN.md "Datastore"): get / list / watch(from
 * revision) / create / update(if revision) / delete over resources, with
 * optimistic concurrency. Two real backends implement it (etcd.ts,
 * kubernetes.ts) and both pass one conformance suite (conformance.ts).
 *
 * Objects are plain Kubernetes-shaped JSON. Typing and validation belong to
 * crds/src: the datastore stores what it is given and hands back what it has.
 */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  /** Opaque revision for optimistic concurrency; set by the datastore, never by a writer. */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
}

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export interface ListOptions {
  /** Only this namespace (namespaced kinds); all namespaces when absent. */
  namespace?: string;
  /** Kubernetes label selector syntax: `app=web,tier in (a,b),!legacy`. */
  labelSelector?: string;
}

export interface ListResult<T extends StoredObject = StoredObject> {
  items: T[];
  /** Revision of the whole store at which this list is consistent; watch from here. */
  revision: string;
}

export type WatchEvent<T extends StoredObject = StoredObject> =
  | { type: 'added' | 'modified' | 'deleted'; object: T; revision: string }
  /** Every object that existed when the watch started has been delivered (only when `from` was not given). */
  | { type: 'synced'; revision: string }
  /**
   * The backend lost its place (etcd compaction, HTTP 410 Gone), relisted, and
   * delivered the difference as ordinary events just before this marker.
   */
  | { type: 'resynced'; revision: string };

export interface WatchOptions<T extends StoredObject = StoredObject> extends ListOptions {
  /**
   * Where the consumer stands: the result of a `list` it already has. Events
   * start after `from.revision`; `from.items` is what the consumer knows, so a
   * relist after compaction can be delivered as the exact difference.
   * Without it, the watch lists first, delivers every object as `added`, then `synced`.
   */
  from?: ListResult<T>;
}

/** An open watch. Iterate it for events; `close()` ends the iteration. */
export interface Watch<T extends StoredObject = StoredObject> extends AsyncIterable<WatchEvent<T>> {
  close(): void;
}

export interface DeleteOptions {
  /** Delete only if the object is still at this revision (else ERR_DATASTORE_CONFLICT). */
  resourceVersion?: string;
}

/**
 * Errors are TortieError with these codes:
 * - ERR_DATASTORE_NOT_FOUND: get is the exception, it returns null
 * - ERR_DATASTORE_ALREADY_EXISTS: create of a name that exists
 * - ERR_DATASTORE_CONFLICT: update/delete whose resourceVersion is stale
 * - ERR_DATASTORE_UNAVAILABLE: the backend cannot be reached (retry later)
 * - ERR_DATASTORE_UNSUPPORTED: e.g. writing a core kind through the kubernetes backend
 */
export interface Datastore {
  readonly type: 'etcdv3' | 'kubernetes';
  get<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string): Promise<T | null>;
  list<T extends StoredObject = StoredObject>(kind: KindInfo, options?: ListOptions): Promise<ListResult<T>>;
  watch<T extends StoredObject = StoredObject>(kind: KindInfo, options?: WatchOptions<T>): Watch<T>;
  /** Fails with ERR_DATASTORE_ALREADY_EXISTS if the name is taken. Returns the stored object with its resourceVersion. */
  create<T extends StoredObject>(kind: KindInfo, object: T): Promise<T>;
  /** Compare-and-swap on `object.metadata.resourceVersion` (required). */
  update<T extends StoredObject>(kind: KindInfo, object: T): Promise<T>;
  /** Returns the deleted object; ERR_DATASTORE_NOT_FOUND if there was none. */
  delete<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string, options?: DeleteOptions): Promise<T>;
  close(): Promise<void>;
}
