import { TortieError } from '../errors.js';
import type { KindInfo } from './kinds.js';
import type {
  Datastore,
  DeleteOptions,
  ListOptions,
  ListResult,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
} from './types.js';

/**
 * A datastore held in memory, with the same optimistic-concurrency rules as
 * the real backends: one store-wide revision that every write increments,
 * `resourceVersion` = the revision of an object's last write, create fails on
 * a taken name, update and delete fail with ERR_DATASTORE_CONFLICT on a stale
 * `resourceVersion`. It is a real (if volatile) backend, not a mock: tests of
 * code that races on compare-and-swap (IPAM) run against it when they need
 * thousands of cases, and against etcd when they need a real server.
 *
 * Every call returns a copy; nothing a caller holds aliases the store.
 * It reports `type: 'etcdv3'` because its semantics are etcd's (one global revision).
 */
export interface MemoryDatastore extends Datastore {
  /** Number of writes so far (creates, updates and deletes that succeeded). */
  readonly revision: number;
  /**
   * Forgets the history up to now, as etcd's compaction does: a watch from an
   * older revision must then relist and gets the difference, then `resynced`.
   */
  compact(): Promise<void>;
}

interface Entry {
  kind: KindInfo;
  object: StoredObject;
}

type Requirement =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

/** Kubernetes label selector syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`. */
export function parseLabelSelector(text: string): Requirement[] {
  const out: Requirement[] = [];
  // Split on commas that are not inside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') continue;
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      out.push({ op: m[2] as 'in' | 'notin', key: m[1]!, values: m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '') });
    } else if ((m = part.match(/^([^\s!=]+)\s*!=\s*(\S*)$/))) {
      out.push({ op: 'ne', key: m[1]!, value: m[2]! });
    } else if ((m = part.match(/^([^\s!=]+)\s*==?\s*(\S*)$/))) {
      out.push({ op: 'eq', key: m[1]!, value: m[2]! });
    } else if ((m = part.match(/^!\s*([^\s!=]+)$/))) {
      out.push({ op: 'notexists', key: m[1]! });
    } else if ((m = part.match(/^([^\s!=()]+)$/))) {
      out.push({ op: 'exists', key: m[1]! });
    } else {
      throw new TortieError('ERR_SELECTOR_SYNTAX', `label selector ${JSON.stringify(text)}: cannot parse ${JSON.stringify(part)}`);
    }
  }
  return out;
}

function matchesLabels(requirements: readonly Requirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case 'eq':
        return has && value === r.value;
      case 'ne':
        return !has || value !== r.value;
      case 'in':
        return has && r.values.includes(value!);
      case 'notin':
        return !has || !r.values.includes(value!);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

function keyOf(kind: KindInfo, name: string, namespace: string | undefined): string {
  return `${kind.apiVersion}/${kind.kind}/${kind.namespaced ? (namespace ?? 'default') : ''}/${name}`;
}

function notFound(kind: KindInfo, name: string, namespace?: string): TortieError {
  return new TortieError('ERR_DATASTORE_NOT_FOUND', `${kind.kind} ${namespace === undefined ? '' : `${namespace}/`}${name} not found`);
}

interface HistoryEvent {
  type: 'added' | 'modified' | 'deleted';
  kind: KindInfo;
  object: StoredObject;
  /** The object before a modification, to tell a label-selected watch that it started or stopped matching. */
  previous?: StoredObject;
  revision: number;
}

export function createMemoryDatastore(): MemoryDatastore {
  const entries = new Map<string, Entry>();
  const history: HistoryEvent[] = [];
  const listeners = new Set<(e: HistoryEvent) => void>();
  const openWatches = new Set<() => void>();
  let revision = 0;
  let compactedRevision = 0;
  let uidCounter = 0;
  let closed = false;

  const ensureOpen = () => {
    if (closed) throw new TortieError('ERR_DATASTORE_UNAVAILABLE', 'memory datastore is closed');
  };
  const record = (type: HistoryEvent['type'], kind: KindInfo, object: StoredObject, previous?: StoredObject) => {
    const event: HistoryEvent = { type, kind, object: structuredClone(object), revision, ...(previous === undefined ? {} : { previous: structuredClone(previous) }) };
    history.push(event);
    for (const l of listeners) l(event);
  };
  const selectedBy = (kind: KindInfo, options: ListOptions | undefined) => {
    const requirements = options?.labelSelector === undefined ? [] : parseLabelSelector(options.labelSelector);
    return (e: { kind: KindInfo; object: StoredObject }) =>
      e.kind === kind &&
      (options?.namespace === undefined || !kind.namespaced || e.object.metadata.namespace === options.namespace) &&
      matchesLabels(requirements, e.object.metadata.labels ?? {});
  };

  const store: MemoryDatastore = {
    type: 'etcdv3',
    get revision() {
      return revision;
    },

    async get<T extends StoredObject>(kind: KindInfo, name: string, namespace?: string): Promise<T | null> {
      ensureOpen();
      const entry = entries.get(keyOf(kind, name, namespace));
      return entry === undefined ? null : (structuredClone(entry.object) as T);
    },

    async list<T extends StoredObject>(kind: KindInfo, options?: ListOptions): Promise<ListResult<T>> {
      ensureOpen();
      const matches = selectedBy(kind, options);
      const items = [...entries.values()].filter(matches).map((e) => structuredClone(e.object) as T);
      items.sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
      return { items, revision: String(revision) };
    },

    watch<T extends StoredObject>(kind: KindInfo, options?: WatchOptions<T>): Watch<T> {
      ensureOpen();
      const matches = selectedBy(kind, options);
      const queue: WatchEvent<T>[] = [];
      let wake: (() => void) | null = null;
      let done = false;
      const push = (e: WatchEvent<T>) => {
        queue.push(e);
        wake?.();
      };
      /** The event as this watch sees it: a modification across the selector's edge is an add or a delete. */
      const toEvent = (e: HistoryEvent): WatchEvent<T> | null => {
        const now = matches(e);
        const before = e.previous === undefined ? now : matches({ kind: e.kind, object: e.previous });
        if (!now && !before) return null;
        const type = e.type !== 'modified' ? e.type : now && before ? 'modified' : now ? 'added' : 'deleted';
        return { type, object: structuredClone(e.object) as T, revision: String(e.revision) };
      };
      if (options?.from === undefined) {
        for (const e of [...entries.values()].filter(matches)) {
          push({ type: 'added', object: structuredClone(e.object) as T, revision: String(revision) });
        }
        push({ type: 'synced', revision: String(revision) });
      } else if (Number(options.from.revision) < compactedRevision) {
        // Our place is gone: deliver the difference between what the consumer has and what is.
        const key = (o: StoredObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        const had = new Map(options.from.items.map((o) => [key(o), o]));
        const now = [...entries.values()].filter(matches);
        const at = String(revision);
        for (const e of now) {
          const before = had.get(key(e.object));
          if (before === undefined) push({ type: 'added', object: structuredClone(e.object) as T, revision: at });
          else if (before.metadata.resourceVersion !== e.object.metadata.resourceVersion) push({ type: 'modified', object: structuredClone(e.object) as T, revision: at });
          had.delete(key(e.object));
        }
        for (const gone of had.values()) push({ type: 'deleted', object: structuredClone(gone), revision: at });
        push({ type: 'resynced', revision: at });
      } else {
        const since = Number(options.from.revision);
        for (const e of history) {
          const event = e.revision > since ? toEvent(e) : null;
          if (event !== null) push(event);
        }
      }
      const listener = (e: HistoryEvent) => {
        const event = toEvent(e);
        if (event !== null) push(event);
      };
      listeners.add(listener);
      const close = () => {
        done = true;
        listeners.delete(listener);
        openWatches.delete(close);
        wake?.();
      };
      openWatches.add(close);
      return {
        close,
        async *[Symbol.asyncIterator]() {
          try {
            while (!done) {
              const next = queue.shift();
              if (next !== undefined) {
                yield next;
                continue;
              }
              await new Promise<void>((resolve) => (wake = resolve));
              wake = null;
            }
          } finally {
            close();
          }
        },
      };
    },

    async create<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
      ensureOpen();
      const { name, namespace } = object.metadata;
      const key = keyOf(kind, name, namespace);
      if (entries.has(key)) {
        throw new TortieError('ERR_DATASTORE_ALREADY_EXISTS', `${kind.kind} ${name} already exists`);
      }
      revision++;
      const stored = structuredClone(object) as T;
      stored.metadata = {
        ...stored.metadata,
        ...(kind.namespaced ? { namespace: namespace ?? 'default' } : {}),
        resourceVersion: String(revision),
        uid: `mem-${++uidCounter}`,
        creationTimestamp: new Date(0).toISOString(),
      };
      entries.set(key, { kind, object: stored });
      record('added', kind, stored);
      return structuredClone(stored);
    },

    async update<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
      ensureOpen();
      const { name, namespace, resourceVersion } = object.metadata;
      if (resourceVersion === undefined) {
        throw new TortieError('ERR_DATASTORE_CONFLICT', `${kind.kind} ${name}: update without a resourceVersion`);
      }
      const key = keyOf(kind, name, namespace);
      const current = entries.get(key);
      if (current === undefined) throw notFound(kind, name, namespace);
      if (current.object.metadata.resourceVersion !== resourceVersion) {
        throw new TortieError(
          'ERR_DATASTORE_CONFLICT',
          `${kind.kind} ${name} changed (resourceVersion ${current.object.metadata.resourceVersion}, not ${resourceVersion})`,
        );
      }
      revision++;
      const stored = structuredClone(object) as T;
      stored.metadata = {
        ...stored.metadata,
        ...(kind.namespaced ? { namespace: namespace ?? 'default' } : {}),
        resourceVersion: String(revision),
        uid: current.object.metadata.uid,
        creationTimestamp: current.object.metadata.creationTimestamp,
      };
      entries.set(key, { kind, object: stored });
      record('modified', kind, stored, current.object);
      return structuredClone(stored);
    },

    async delete<T extends StoredObject>(kind: KindInfo, name: string, namespace?: string, options?: DeleteOptions): Promise<T> {
      ensureOpen();
      const key = keyOf(kind, name, namespace);
      const current = entries.get(key);
      if (current === undefined) throw notFound(kind, name, namespace);
      if (options?.resourceVersion !== undefined && current.object.metadata.resourceVersion !== options.resourceVersion) {
        throw new TortieError('ERR_DATASTORE_CONFLICT', `${kind.kind} ${name} changed since resourceVersion ${options.resourceVersion}`);
      }
      entries.delete(key);
      revision++;
      record('deleted', kind, current.object);
      return structuredClone(current.object) as T;
    },

    async compact(): Promise<void> {
      compactedRevision = revision;
      history.length = 0;
    },

    async close(): Promise<void> {
      closed = true;
      for (const close of [...openWatches]) close();
    },
  };
  return store;
}
